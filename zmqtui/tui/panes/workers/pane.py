"""The workers pane: the cluster's live table, its throughput, and kill/restart/scale keys.

The pane never talks to sockets: the app feeds it `ClusterSnapshot`s and turns the
messages it posts (`KillRequested`, `RestartRequested`, `ScaleRequested`,
`ClusterRestartRequested`) into control commands or a new embedded cluster.

What it shows is never claimed live when it is not: rows that no snapshot has confirmed for a
while, or from a cluster that exited, stay on screen dimmed, as of when they were last heard of.
A key that cannot act says why.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Sparkline, Static

from zmqtui.format import NO_VALUE, format_bytes, format_duration, format_rate
from zmqtui.protocol import WORKER_STATES, ClusterSnapshot, WorkerStats
from zmqtui.text import printable
from zmqtui.tui.backend import GOOD_STATES
from zmqtui.tui.panes.base import OfflineBanner, Pane
from zmqtui.tui.panes.workers.rates import RateTracker
from zmqtui.tui.widgets.table import Column, LiveTable

COLUMNS = (
    Column("slot", "slot", 4, "right"),
    Column("pid", "pid", 7, "right"),
    Column("state", "state", 8),
    Column("requests", "reqs", 8, "right"),
    Column("rate", "req/s", 6, "right", drop_order=9),
    Column("errors", "errs", 5, "right", drop_order=8),
    Column("restarts", "rst", 3, "right", drop_order=6),
    Column("uptime", "uptime", 6, "right", drop_order=7),
    Column("cpu", "cpu%", 5, "right", drop_order=5),
    Column("memory", "mem", 6, "right", drop_order=3),
    Column("latency", "lat ms", 6, "right", drop_order=4),
    Column("crashes", "crash", 5, "right", drop_order=2),
    Column("last_exit", "last exit", 17, drop_order=1),
)
"""Fixed widths keep the columns from jumping as values change, as in htop; in a narrow pane
the columns with a `drop_order` give way, the lowest first (the last exit before anything)."""

SCALE_PATIENCE_MS = 5000
"""How long (cluster time) a scale request may go unapplied before presses count from the
workers the cluster reports again (it may have refused)."""

LIVE_STATES = frozenset({"starting", "ready", "busy", "stale"})
"""States in which a slot has a running process with an uptime."""

STALE_AFTER_S = 5.0
"""No snapshot for this long (or three of the longest gaps seen between them, if longer) and
the rows are stale: the cluster may be gone, stopped, or cut off."""

KILL_CONFIRM_S = 3.0
"""How long a first `k` waits for the second that kills."""

ACTION_VERBS = {
    "kill": "kill",
    "restart": "restart a worker",
    "scale": "scale",
    "restart_cluster": "restart the cluster",
}
"""The pane's actions, as a refusal names them ("cannot kill: ...")."""


def _format_number(value: float | None) -> str:
    if value is None:
        return NO_VALUE
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


BROKER_NAMES = {
    "held": "held",
    "queued": "queued",
    "idle_workers": "idle",
    "requests_requeued": "requeued",
    "unanswered": "unanswered",
    "frontend_dropped": "dropped in",
    "backend_dropped": "dropped out",
    "replies_dropped_unread": "dropped unread",
}
"""Short names for the lb broker's counters beside its traffic (others show as they come)."""

PROBLEM_COUNTERS = {
    "requests_requeued",
    "unanswered",
    "frontend_dropped",
    "backend_dropped",
    "replies_dropped_unread",
}
"""Shown only once they are not 0."""


class WorkersPane(Pane):
    """The cluster's workers, live: one row per slot, updated in place.

    Feed it with `update_snapshot` (about once a second); call `set_offline` when the stats
    socket is down and `set_cluster_exited` when the embedded cluster ended. Keys act on the
    worker under the cursor.

    Args:
        embedded: the monitor started the cluster, so it can start it again (`R`).
        history: How many rate samples (about one a second) the throughput graph shows.
        clock: seconds, for how old the last snapshot is and the kill confirmation.
    """

    TITLE = "Workers"
    SOCKET = "stats"
    NO_ENDPOINT = "the cluster's workers are not shown"
    HELP = (
        "The cluster's processes, live; kill or restart the selected one, scale the "
        "cluster up or down. Rows no stats have confirmed for 5 s are dimmed as *stale*, with "
        "their age; a key that cannot act now says why."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "k",
            "kill",
            "Kill",
            tooltip="kill the selected worker, on a second press (a replacement starts)",
        ),
        Binding("r", "restart", "Restart", tooltip="restart the selected worker"),
        Binding("plus", "scale(1)", "Scale up", key_display="+", tooltip="one worker more"),
        Binding("minus", "scale(-1)", "Scale down", key_display="-", tooltip="one worker fewer"),
        Binding(
            "R",
            "restart_cluster",
            "Restart cluster",
            tooltip="restart the embedded cluster, once it exited or its stats went stale",
        ),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"pane--{state}" for state in WORKER_STATES}
    """A worker's state in the colour of its state (the shared `pane--*` classes besides)."""

    DEFAULT_CSS = """
    WorkersPane {
        & > .pane--starting { color: $text-warning; }
        & > .pane--ready { color: $text-success; }
        & > .pane--busy { color: $text-primary; text-style: bold; }
        & > .pane--stale { color: $text-warning; background: $warning-muted; }
        & > .pane--dead { color: $text-error; text-style: bold; }
        & > .pane--errored { color: $text-error; background: $error-muted; }
        &.-offline {
            #workers-top, #workers-table { opacity: 60%; }
        }
        &.-unavailable #workers-top { display: none; }
        #workers-top { height: 4; }
        #workers-header, #workers-rate { text-wrap: nowrap; text-overflow: ellipsis; }
        #workers-header { width: 1fr; padding: 0 1; }
        #workers-throughput { width: 30%; min-width: 20; max-width: 48; padding-right: 1; }
        #workers-sparkline { height: 3; }
    }
    """

    @dataclass
    class KillRequested(Message):
        """The user asked to kill the worker process `pid` (the supervisor replaces it)."""

        pid: int

    @dataclass
    class RestartRequested(Message):
        """The user asked to restart the worker process `pid` gracefully."""

        pid: int

    @dataclass
    class ScaleRequested(Message):
        """The user asked for `workers` local worker processes in total."""

        workers: int

    class ClusterRestartRequested(Message):
        """The user asked for the embedded cluster to be started again."""

    def __init__(
        self,
        *,
        embedded: bool = False,
        history: int = 60,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._rates = RateTracker(history)
        self._snapshot: ClusterSnapshot | None = None
        self._workers: dict[int, WorkerStats] = {}
        self._scale_target: int | None = None
        self._scale_asked_at = 0
        self._available: tuple[bool | None, ...] = ()
        self.embedded = embedded
        self._clock = clock
        self._received_at: float | None = None
        self._gaps: deque[float] = deque(maxlen=10)
        """Seconds between the latest snapshots while they came in time."""
        self.stale = False
        """No snapshot for a while: the rows are as of then."""
        self._stats_may_come = True
        self._cluster_exit: str | None = None
        """How the embedded cluster ended, until it is started again."""
        self._restarting = False
        self._kill_armed: tuple[int, float] | None = None

    def compose(self) -> ComposeResult:
        yield OfflineBanner()
        with Horizontal(id="workers-top"):
            yield Static(Text("waiting for cluster stats…"), id="workers-header")
            with Vertical(id="workers-throughput"):
                yield Static(id="workers-rate")
                yield Sparkline(list(self._rates.history), id="workers-sparkline")
        yield LiveTable(COLUMNS, id="workers-table")

    def on_mount(self) -> None:
        self.query_one("#workers-rate", Static).update(self._rate_text())
        self.set_interval(1.0, self.check_freshness, name="workers freshness")

    @property
    def table(self) -> LiveTable:
        """The live table (focus it to use the keys)."""
        return self.query_one("#workers-table", LiveTable)

    @property
    def main_control(self) -> LiveTable:
        """The table: the keys act on the worker under its cursor."""
        return self.table

    @property
    def snapshot(self) -> ClusterSnapshot | None:
        """The latest snapshot shown."""
        return self._snapshot

    @property
    def selected_worker(self) -> WorkerStats | None:
        """The worker under the cursor, as of the latest snapshot."""
        key = self.table.cursor_key
        return self._workers.get(key) if isinstance(key, int) else None

    @property
    def live(self) -> bool:
        """Whether the rows show the cluster as it is now, as far as the pane can tell."""
        return not (self.stale or self._cluster_exit or self._restarting)

    def update_snapshot(self, snapshot: ClusterSnapshot) -> None:
        """Show `snapshot`: header, throughput and rows (only changed cells repaint)."""
        now = self._clock()
        if self._received_at is not None and self.live:
            self._gaps.append(now - self._received_at)
        self._received_at = now
        self.stale = False
        self.offline_reason = self._cluster_exit = None
        self._restarting = False
        self._snapshot = snapshot
        workers: dict[int, WorkerStats] = {}
        for worker in sorted(snapshot.workers, key=lambda worker: worker.slot):
            workers.setdefault(worker.slot, worker)
        self._workers = workers
        if self._scale_target is not None and (
            self._local_workers() == self._scale_target
            or snapshot.timestamp - self._scale_asked_at >= SCALE_PATIENCE_MS
        ):
            self._scale_target = None
        if self._rates.observe(snapshot):
            self.query_one("#workers-sparkline", Sparkline).data = list(self._rates.history)
        self.query_one("#workers-rate", Static).update(self._rate_text())
        self._show()

    def set_offline(self, reason: str) -> None:
        """Say why no stats arrive; the last rows stay, dimmed, until a snapshot comes."""
        self.offline_reason = reason
        self._show()

    def show_connection(self, state: str, endpoint: str | None, detail: str = "") -> None:
        """Any state but a working one stops the stats: the pane says so. Without an endpoint
        none will ever come: it then shows only why, and no promise of stats."""
        if state == "off":
            self._stats_may_come = False
            super().show_connection(state, endpoint, detail)
        elif state not in GOOD_STATES:
            self._stats_may_come = True
            self.set_offline(f"stats {endpoint}: {state}" + (f" ({detail})" if detail else ""))

    def set_cluster_exited(self, how: str) -> None:
        """The embedded cluster's process ended (`how`: "killed by SIGKILL"): nothing in the
        rows runs any more; `R` starts the cluster again."""
        self._cluster_exit = how
        self._restarting = False
        self._show()

    def check_freshness(self) -> None:
        """Mark the rows stale once no snapshot came for a while (called every second)."""
        if self._received_at is None:
            return
        limit = max(STALE_AFTER_S, 3 * max(self._gaps, default=0.0))
        stale = self._clock() - self._received_at > limit
        if stale or self.stale:  # the age on screen changes every second
            self.stale = stale
            self._show()

    def _show(self) -> None:
        """Banner, header and rows for the current state."""
        self.show_banner(self._banner())
        self.set_class(self._snapshot is None and not self._stats_may_come, "-unavailable")
        snapshot = self._snapshot
        header = self.query_one("#workers-header", Static)
        if snapshot is None:
            waiting = self._stats_may_come and not self._cluster_exit
            header.update(Text("waiting for cluster stats…" if waiting else ""))
        else:
            header.update(self._header_text(snapshot))
            self.table.set_rows(
                (slot, self._row(worker, snapshot.timestamp))
                for slot, worker in self._workers.items()
            )
        self._refresh_actions()

    def _banner(self) -> str:
        """Why the rows are not live, in one line ("" when they are)."""
        parts = []
        if self._cluster_exit is not None:
            parts.append(f"the embedded cluster exited ({self._cluster_exit}): R restarts it")
        elif self._restarting:
            parts.append("restarting the embedded cluster…")
        elif self.offline_reason is not None:
            parts.append(self.offline_reason)
        if self.stale and self._received_at is not None:
            age = format_duration(self._clock() - self._received_at)
            parts.append(f"stale: last stats {age} ago")
        return " · ".join(parts)

    # --- rendering -----------------------------------------------------------------------

    def _row(self, worker: WorkerStats, now_ms: int) -> list[str | Text]:
        state = worker.state
        live = self.live
        if not live:  # as last heard of, in the colour of labels: not a claim
            state_style: Style | str = self.pane_style("label")
        else:
            state_style = self.pane_style(state) if state in WORKER_STATES else ""
        started = worker.started
        running = started is not None and state in LIVE_STATES and live
        uptime_s = (now_ms - started) / 1000 if running and started is not None else None
        return [
            str(worker.slot),
            NO_VALUE if worker.pid is None else str(worker.pid),
            Text(state, style=state_style),
            str(worker.requests),
            format_rate(self._rates.rate(worker.slot), unit=""),
            Text(str(worker.errors), style=self.pane_style("error") if worker.errors else ""),
            Text(
                str(worker.restarts), style=self.pane_style("starting") if worker.restarts else ""
            ),
            format_duration(uptime_s),
            _format_number(worker.cpu_percent),
            format_bytes(worker.memory_bytes),
            _format_number(worker.latency_ms),
            Text(str(worker.crashes), style=self.pane_style("error") if worker.crashes else ""),
            worker.last_exit or NO_VALUE,
        ]

    def _header_text(self, snapshot: ClusterSnapshot) -> Text:
        """Four lines: who and how, workers by state, broker counters."""
        label, value = self.pane_style("label"), self.pane_style("value")
        workers = self._workers.values()
        remote = sum(1 for worker in workers if worker.remote)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append_text(
            Text.assemble(
                ("supervisor ", label),
                (str(snapshot.pid), value),
                ("  routing ", label),
                (printable(snapshot.routing) or NO_VALUE, value),
                ("  workers ", label),
                (str(len(self._workers)), value),
                (f" ({remote} remote)" if remote else "", label),
            )
        )
        by_state: dict[str, int] = {}
        for worker in workers:
            by_state[worker.state] = by_state.get(worker.state, 0) + 1
        states = [
            Text.assemble((str(by_state[state]), value), " ", (state, self.pane_style(state)))
            for state in WORKER_STATES
            if state in by_state
        ]
        text.append("\n")
        if not self.live and self._received_at is not None:
            age = format_duration(self._clock() - self._received_at)
            text.append(f"last known, {age} ago: ", label)
        text.append_text(Text("  ").join(states) if states else Text("no workers", label))
        text.append("\n")
        text.append_text(self._broker_text(snapshot.broker))
        return text

    def _broker_text(self, broker: dict[str, int]) -> Text:
        """Two lines: frames and bytes each way on the frontend, then the backend and the rest."""
        label, value = self.pane_style("label"), self.pane_style("value")
        lines: list[Text] = []
        shown: set[str] = set()
        for side in ("frontend", "backend"):
            line = Text.assemble((f"{side:<9}", label))
            for direction in ("in", "out"):
                frames, size = f"{side}_{direction}", f"{side}_bytes_{direction}"
                shown.update((frames, size))
                line.append_text(
                    Text.assemble(
                        (f" {direction} ", label),
                        (str(broker.get(frames, NO_VALUE)), value),
                        (" · ", label),
                        (format_bytes(broker.get(size)), value),
                    )
                )
            lines.append(line)
        for key, count in broker.items():
            if key in shown or (key in PROBLEM_COUNTERS and not count):
                continue  # a problem counter at 0 says nothing
            name = BROKER_NAMES.get(key) or printable(key)
            lines[-1].append_text(Text.assemble((f"  {name} ", label), (str(count), value)))
        return Text("\n").join(lines)

    def _rate_text(self) -> Text:
        label, value = self.pane_style("label"), self.pane_style("value")
        history = self._rates.history
        return Text.assemble(
            ("req/s ", label),
            (format_rate(self._rates.cluster_rate, unit=""), value),
            ("  max ", label),
            (format_rate(max(history) if history else None, unit=""), value),
            no_wrap=True,
            overflow="ellipsis",
        )

    # --- actions -------------------------------------------------------------------------

    def _refresh_actions(self) -> None:
        """Update the footer when what the keys can act on changed (not on every snapshot)."""
        available = tuple(self.check_action(action, ()) for action in ACTION_VERBS)
        if available != self._available:
            self._available = available
            self.refresh_bindings()

    @on(LiveTable.RowHighlighted, "#workers-table")
    def _highlighted(self, event: LiveTable.RowHighlighted) -> None:
        event.stop()
        self._refresh_actions()

    def refusal(self, action: str) -> str | None:
        """Why `action` cannot act now, or None when it can."""
        if action == "restart_cluster":
            if not self.embedded:
                return "attached, the monitor started no cluster to restart"
            if self._cluster_exit is None and not self.stale and not self._restarting:
                return "the embedded cluster runs (r restarts the worker under the cursor)"
            return None  # restarting too: a restart that failed can be asked for again
        if action not in ACTION_VERBS:
            return None
        if self._cluster_exit is not None:
            return f"the embedded cluster exited ({self._cluster_exit}): R restarts it"
        if self._restarting:
            return "the embedded cluster is restarting"
        if self._snapshot is None:
            return self.offline_reason or "no cluster stats yet: no worker is known"
        if action == "scale":
            return None
        worker = self.selected_worker
        if worker is None:
            return "no worker under the cursor"
        if worker.pid is None:
            return f"slot {worker.slot} has no process"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in ACTION_VERBS:
            return True
        if self.refusal(action) is None:
            return True
        return False if action == "restart_cluster" else None  # hidden, or shown dimmed

    def _refused(self, action: str) -> bool:
        """Say why `action` cannot act now, if it cannot."""
        reason = self.refusal(action)
        if reason is not None:
            self.notify(
                f"cannot {ACTION_VERBS[action]}: {reason}", severity="warning", markup=False
            )
        return reason is not None

    def on_key(self, event: events.Key) -> None:
        """A key of the pane that cannot act says why: Textual would pass it on in silence."""
        action = KEY_ACTIONS.get(event.key)
        if action is not None and self._refused(action):
            event.stop()
            event.prevent_default()

    def action_kill(self) -> None:
        """Kill the worker under the cursor on a second press (the supervisor replaces it)."""
        if self._refused("kill"):
            return
        worker = self.selected_worker
        assert worker is not None and worker.pid is not None
        now = self._clock()
        armed = self._kill_armed
        if armed is None or armed[0] != worker.pid or now - armed[1] > KILL_CONFIRM_S:
            self._kill_armed = (worker.pid, now)
            self.notify(
                f"press k again to kill pid {worker.pid} (slot {worker.slot}; the supervisor "
                "starts a new one)",
                timeout=KILL_CONFIRM_S,
                markup=False,
            )
            return
        self._kill_armed = None
        self.post_message(self.KillRequested(worker.pid))

    def action_restart(self) -> None:
        """Restart the worker under the cursor."""
        if self._refused("restart"):
            return
        worker = self.selected_worker
        assert worker is not None and worker.pid is not None
        self.post_message(self.RestartRequested(worker.pid))

    def _local_workers(self) -> int:
        return sum(1 for worker in self._workers.values() if not worker.remote)

    def action_scale(self, delta: int) -> None:
        """Ask for one worker more or fewer; presses add up until the cluster reports the
        count asked for (or `SCALE_PATIENCE_MS` passes without it)."""
        if self._refused("scale") or self._snapshot is None:
            return
        current = self._scale_target if self._scale_target is not None else self._local_workers()
        target = current + delta
        if target < 1:
            self.notify("a cluster needs at least one worker", severity="warning", markup=False)
            return
        self._scale_target = target
        self._scale_asked_at = self._snapshot.timestamp
        self.post_message(self.ScaleRequested(target))

    def action_restart_cluster(self) -> None:
        """Start the embedded cluster again (after it died, or while its stats are stale)."""
        if self._refused("restart_cluster"):
            return
        self._cluster_exit = None
        self._restarting = True
        self._show()
        self.post_message(self.ClusterRestartRequested())


KEY_ACTIONS = {
    binding.key: binding.action.partition("(")[0]
    for binding in WorkersPane.BINDINGS
    if isinstance(binding, Binding)
}
"""Each key of the pane and the action it runs."""
