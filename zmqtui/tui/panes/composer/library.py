"""Saved and sent requests beside the composer: the collection as a tree, the history as a
list (sends still in flight, then their outcomes in place, kept across runs), one search over both.

The library never sends: choosing a request posts `RequestLibrary.RequestChosen` (the composer
loads it), `r` on a history entry posts `RequestLibrary.ResendWanted`. It reads the collection
from disk when mounted and on `reload`, and writes history records on a thread (another
monitor may hold the file's lock for a moment).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Tree
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from zmqtui.collection import (
    Collection,
    CollectionError,
    SavedRequest,
    check_name,
    load_collection,
    save_request,
)
from zmqtui.history import History, HistoryRecord, Outcome
from zmqtui.request_spec import RequestSpec
from zmqtui.text import printable
from zmqtui.tui.panes.composer.save_dialog import SaveRequestScreen
from zmqtui.tui.widgets.table import component_style

Result = TypeVar("Result")


class CollectionTree(Tree[SavedRequest | None]):
    """The collection's folders and requests; a file that cannot be read shows its reason."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "collection-tree--error",
        "collection-tree--muted",
    }

    DEFAULT_CSS = """
    CollectionTree {
        overflow-x: hidden;
        & > .collection-tree--error { color: $text-error; }
        & > .collection-tree--muted { color: $text-muted; }
    }
    """

    def show(self, collection: Collection, label: Text, query: str) -> None:
        """Show the requests `query` matches (all when empty), in their folders."""
        self.clear()
        self.root.set_label(label)
        shown = [saved for saved in collection.requests if _saved_matches(saved, query)]
        folders = list(collection.folders) if not query else _parents(shown)
        nodes: dict[str, TreeNode[SavedRequest | None]] = {"": self.root}
        for folder in folders:
            parent, _, base = folder.rpartition("/")
            nodes[folder] = nodes[parent].add(Text(printable(base) + "/"), expand=True)
        for saved in shown:
            nodes[saved.folder].add_leaf(self._label(saved), data=saved)
        self.root.expand()

    def _label(self, saved: SavedRequest) -> Text:
        base = printable(saved.name.rpartition("/")[2])
        if saved.spec is None:
            error = self._style("error")
            return Text.assemble(
                ("✗ ", error),
                (base, error),
                (f"  {printable(saved.error or '')}", self._style("muted")),
            )
        label = Text(base)
        if saved.spec.socket != "REQ":
            label.append(f"  {saved.spec.socket}", self._style("muted"))
        return label

    def _style(self, name: str) -> Style:
        return component_style(self, f"collection-tree--{name}")


@dataclass(slots=True)
class InFlight:
    """A send without an outcome yet, shown where its outcome will be."""

    record: HistoryRecord
    """What went, when, from which environment: kept with its outcome once it comes."""
    done: int | None = None
    """A load run's requests finished so far (None until its first progress)."""

    @property
    def percent(self) -> int | None:
        return None if self.done is None else self.done * 100 // self.record.count


HistoryEntry = HistoryRecord | InFlight
"""What the history list shows: a send's outcome, or a send still in flight."""


def entry_record(entry: HistoryEntry) -> HistoryRecord:
    """The record an entry shows (for one in flight: as it went)."""
    return entry.record if isinstance(entry, InFlight) else entry


class HistoryList(OptionList):
    """Sent requests, newest first: what was sent, then how it ended (or that it is in flight)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "resend", "Resend", tooltip="send the highlighted history entry again"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "history-list--ok",
        "history-list--error",
        "history-list--muted",
    }

    DEFAULT_CSS = """
    HistoryList {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        & > .history-list--ok { color: $text-success; }
        & > .history-list--error { color: $text-error; }
        & > .history-list--muted { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: list[HistoryEntry] = []
        """What the list shows, in its order."""

    def show(self, records: list[HistoryEntry]) -> None:
        """Show `records`, keeping the highlight on the first."""
        self.records = records
        self.set_options(Option(self._label(record)) for record in records)
        if records:
            self.highlighted = 0

    def repaint(self, old: HistoryEntry, new: HistoryEntry) -> None:
        """Show `new` in the place of `old` (a send's progress or outcome), if it is shown."""
        for index, shown in enumerate(self.records):
            if shown is old:
                self.records[index] = new
                self.replace_option_prompt_at_index(index, self._label(new))
                return

    @property
    def highlighted_record(self) -> HistoryRecord | None:
        index = self.highlighted
        if index is None or index >= len(self.records):
            return None
        return entry_record(self.records[index])

    def action_resend(self) -> None:
        """Ask for the highlighted entry to be sent again, as it was sent."""
        record = self.highlighted_record
        if record is not None:
            self.post_message(
                RequestLibrary.ResendWanted(record.spec, record.count, record.concurrency)
            )

    def _label(self, entry: HistoryEntry) -> Text:
        record = entry_record(entry)
        spec = record.spec
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(printable(spec.name or spec.endpoint))
        if spec.socket != "REQ":
            text.append(f" {spec.socket}", self._style("muted"))
        if record.count > 1:
            text.append(f" ×{record.count:,}/{record.concurrency}", self._style("muted"))  # noqa: RUF001
        text.append("\n")
        if isinstance(entry, InFlight):
            percent = entry.percent
            progress = "" if percent is None else f" {percent}%"
            text.append(f"… in flight{progress}", self._style("muted"))
        elif record.error is not None:
            text.append(f"✗ {printable(record.error)}", self._style("error"))
        else:
            text.append("✓ ", self._style("ok"))
            if record.latency_ms is not None:
                text.append(f"{record.latency_ms:.1f} ms ", self._style("muted"))
            text.append(printable(record.reply or ""))
        return text

    def _style(self, name: str) -> Style:
        return component_style(self, f"history-list--{name}")


class RequestLibrary(Vertical):
    """The collection's tree and the history, under one search field.

    Args:
        collection_dir: Where requests are saved (need not exist until the first save).
        history: The lasting history (None: kept for this run only).
        environment: The environment to start with (None: the collection's default).
        clock: Seconds since the epoch, for when a request was sent.
    """

    DEFAULT_CSS = """
    RequestLibrary {
        height: 1fr;
        #library-search {
            border: none;
            height: 1;
            padding: 0 1;
            background: $panel;
            &:focus { background: $panel-lighten-2; }
        }
        #library-tree, #library-history {
            height: 1fr;
            background: $surface;
            border: round $panel-lighten-2;
            border-title-color: $text-muted;
            &:focus { border: round $primary; border-title-color: $text; }
        }
    }
    """

    @dataclass
    class VariablesChanged(Message):
        """Another environment was chosen, or the collection read again: the frames typed
        are checked filled from `variables`."""

        variables: Mapping[str, str]

    @dataclass
    class RequestChosen(Message):
        """The user chose a saved or sent request: put it in the composer."""

        spec: RequestSpec
        count: int = 1
        concurrency: int = 1
        """How a load run from the history was sent."""

    @dataclass
    class ResendWanted(Message):
        """The user asked to send a history entry again, as it was sent."""

        spec: RequestSpec
        count: int = 1
        concurrency: int = 1

    def __init__(
        self,
        collection_dir: Path,
        history: History | None = None,
        environment: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.collection_dir = collection_dir
        self.history = history
        self.collection = Collection(collection_dir)
        self.environment = environment
        self.records: list[HistoryEntry] = []
        """Every history entry, newest first: sends in flight where they went, outcomes."""
        self.query_text = ""
        self._in_flight: dict[int, InFlight] = {}
        """Sends without an outcome yet, by send id."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search (/)", id="library-search")
        tree = CollectionTree(Text(), id="library-tree")
        tree.border_title = "saved"
        yield tree
        history = HistoryList(id="library-history")
        history.border_title = "history"
        yield history

    def on_mount(self) -> None:
        if self.history is not None:
            self.records = self.history.load()
        self.reload(keep_environment=self.environment is not None)

    # --- what the composer calls -----------------------------------------------------------

    def reload(self, *, keep_environment: bool = True) -> None:
        """Read the collection from disk again (after an edit in a text editor)."""
        try:
            self.collection = load_collection(self.collection_dir)
        except CollectionError as exc:
            self.collection = Collection(self.collection_dir)
            self.notify(str(exc), title="collection", severity="error", markup=False)
        names = self.collection.environments.names
        if keep_environment and self.environment is not None and self.environment not in names:
            message = f"no environment {self.environment!r} in {self.collection_dir}"
            self.notify(message, title="collection", severity="warning", markup=False)
        if not keep_environment or self.environment not in names:
            self.environment = self.collection.environments.initial()
        self._show()
        self.post_message(self.VariablesChanged(self.variables()))

    def variables(self) -> dict[str, str]:
        """The chosen environment's variables (none when it cannot be had)."""
        try:
            return self.collection.environments.variables(self.environment)
        except CollectionError:
            return {}

    def fill(self, spec: RequestSpec) -> RequestSpec:
        """`spec` with its variables filled from the chosen environment; `VariableError`
        naming any it does not know."""
        return self.collection.fill(spec, self.environment)

    def save(self, name: str, spec: RequestSpec) -> SavedRequest:
        """Save `spec` as `name` in the collection and show it; `CollectionError` if it
        cannot be."""
        saved = save_request(self.collection_dir, name, spec)
        self.reload()
        return saved

    def ask_to_save(self, spec: RequestSpec, saved: Callable[[str], object]) -> None:
        """Ask for a name and save `spec` under it; `saved` gets the name once it is saved."""

        def done(name: str | None) -> None:
            if name is not None:
                self.notify(f"saved {check_name(name)}", markup=False)
                saved(check_name(name))

        screen = SaveRequestScreen(self.collection_dir, spec.name, lambda n: self.save(n, spec))
        self.app.push_screen(screen, done)

    def cycle_environment(self) -> str | None:
        """Choose the next environment of the collection (they go round); the chosen one."""
        names = self.collection.environments.names
        if names:
            index = names.index(self.environment) + 1 if self.environment in names else 0
            self.environment = names[index % len(names)]
            self._show_tree()
            self.post_message(self.VariablesChanged(self.variables()))
        return self.environment

    def sent(self, send_id: int, spec: RequestSpec, count: int = 1, concurrency: int = 1) -> None:
        """`spec` (variables filled) went as the send `send_id`, `count` times: shown at the
        top as in flight, kept once it has an outcome."""
        sent_ms = int(self.clock() * 1000)
        record = HistoryRecord(
            spec, sent_ms, environment=self.environment, count=count, concurrency=concurrency
        )
        self._in_flight[send_id] = entry = InFlight(record)
        self._add(entry)

    def progress(self, send_id: int | None, done: int) -> None:
        """The load run `send_id` has `done` requests finished: its entry shows how far."""
        entry = self._in_flight.get(send_id) if send_id is not None else None
        if entry is None:
            return
        before = entry.percent
        entry.done = done
        if entry.percent != before:
            self._history_list.repaint(entry, entry)

    def settle(
        self, send_id: int | None, describe: Callable[[Result], Outcome], result: Result
    ) -> None:
        """The send `send_id` ended with `result`, which `describe` says as the history keeps
        it; it takes its place in flight. A send the library did not see go (None, or from
        before) is left out."""
        pending = self._in_flight.pop(send_id, None) if send_id is not None else None
        if pending is None:
            return
        outcome = describe(result)
        record = replace(
            pending.record, reply=outcome.reply, latency_ms=outcome.latency_ms, error=outcome.error
        )
        for index, entry in enumerate(self.records):
            if entry is pending:
                self.records[index] = record
        self._history_list.repaint(pending, record)
        self._keep_lasting(record)

    def record(self, record: HistoryRecord) -> None:
        """Add a sent request's outcome at the top, and to the lasting history."""
        self._add(record)
        self._keep_lasting(record)

    def _add(self, entry: HistoryEntry) -> None:
        self.records.insert(0, entry)
        if self.history is not None:
            del self.records[self.history.limit :]
        self._show_history()

    def _keep_lasting(self, record: HistoryRecord) -> None:
        if self.history is not None:
            self._keep(record)

    def focus_search(self) -> None:
        search = self.query_one("#library-search", Input)
        search.focus()
        search.action_end()

    # --- showing -----------------------------------------------------------------------------

    def _show(self) -> None:
        self._show_tree()
        self._show_history()

    def _show_tree(self) -> None:
        tree = self.query_one("#library-tree", CollectionTree)
        tree.show(self.collection, self._root_label(tree), self.query_text)

    @property
    def _history_list(self) -> HistoryList:
        return self.query_one("#library-history", HistoryList)

    def _show_history(self) -> None:
        query = self.query_text
        self._history_list.show([e for e in self.records if entry_record(e).spec.matches(query)])

    def _root_label(self, tree: CollectionTree) -> Text:
        muted = component_style(tree, "collection-tree--muted")
        label = Text(printable(self.collection_dir.name or str(self.collection_dir)))
        environments = self.collection.environments
        if environments.error is not None:
            label.append(
                f"  {printable(environments.error)}",
                component_style(tree, "collection-tree--error"),
            )
        elif self.environment is not None:
            label.append(f"  env {printable(self.environment)}", muted)
        if not self.collection.requests:
            label.append("  empty", muted)
        return label

    @work(thread=True, exit_on_error=False, group="history", description="keep history")
    def _keep(self, record: HistoryRecord) -> None:
        assert self.history is not None
        try:
            self.history.append(record)
        except OSError as exc:
            message = f"history not kept: {exc.strerror}"
            self.app.call_from_thread(self.notify, message, severity="warning", markup=False)

    # --- events ------------------------------------------------------------------------------

    @on(Input.Changed, "#library-search")
    def _searched(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        self._show()

    @on(Input.Submitted, "#library-search")
    def _search_done(self, event: Input.Submitted) -> None:
        """Enter in the search goes to the first match (it never sends)."""
        event.stop()
        tree = self.query_one("#library-tree", CollectionTree)
        first = next(_leaves(tree.root), None)
        if first is None and self.records:
            self.query_one(HistoryList).focus()
            return
        tree.focus()
        if first is not None:
            tree.move_cursor(first)

    @on(Tree.NodeSelected, "#library-tree")
    def _tree_chosen(self, event: Tree.NodeSelected[SavedRequest | None]) -> None:
        event.stop()
        saved = event.node.data
        if saved is None:
            return
        if saved.spec is None:
            self.notify(f"{saved.name}: {saved.error}", severity="error", markup=False)
            return
        self.post_message(self.RequestChosen(saved.spec))

    @on(OptionList.OptionSelected, "#library-history")
    def _history_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        record = entry_record(self.query_one(HistoryList).records[event.option_index])
        self.post_message(self.RequestChosen(record.spec, record.count, record.concurrency))


def _saved_matches(saved: SavedRequest, query: str) -> bool:
    if saved.spec is not None:
        return saved.spec.matches(query)
    return all(word in saved.name.casefold() for word in query.casefold().split())


def _parents(shown: list[SavedRequest]) -> list[str]:
    """Every folder holding one of `shown`, parents before children."""
    folders: dict[str, None] = {}
    for saved in shown:
        parts = saved.folder.split("/") if saved.folder else []
        for end in range(1, len(parts) + 1):
            folders["/".join(parts[:end])] = None
    return sorted(folders)


def _leaves(node: TreeNode[SavedRequest | None]) -> Iterator[TreeNode[SavedRequest | None]]:
    """The requests under `node`, depth first (folders have no data)."""
    for child in node.children:
        if child.data is not None:
            yield child
        yield from _leaves(child)
