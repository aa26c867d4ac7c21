"""The help screen: what each pane shows and every key, in one place (F1 or ?).

Rendered by Rich's Markdown in one widget: Textual's Markdown widget builds a widget per block
and takes seconds to open on a busy machine.
"""

from __future__ import annotations

from typing import ClassVar

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
# zmqtui monitor

The four panes watch the services of the *Microservices* chapter live: the file watcher's
publisher, a subscriber, the filer (send requests), and the filer cluster's workers.
The bar at the bottom shows every socket's connection: **bound**, **connected**,
**connecting**, **retrying**, **disconnected**, **failed**, or **off** (no endpoint given).
A service that is down is retried; the monitor never exits because one failed.

## Panes

- **1 Publisher**: every event the watcher publishes (seq, kind, time, path), the count and
  rate, the subscribers connected to its XPUB socket and their subscriptions. `n` publishes an
  event by hand (embedded mode only; attached, the pane shows what a SUB socket receives).
- **2 Subscriber**: what a SUB socket receives: time, lag (receive time minus the event's
  timestamp), seq, kind, path. ⚠ marks a gap in seq, a new or restarted publisher or a feed
  falling behind. The selected message is shown whole below the list.
- **3 Requests**: send a file request once, or *count* times with *concurrency* in flight; see
  the reply, pid, latency and retries; recall earlier requests from the history.
- **4 Workers**: the cluster's processes, live; kill or restart the selected one, scale the
  cluster up or down.

## Keys everywhere

| key | action |
|---|---|
| `1` `2` `3` `4` | focus a pane (showing it if hidden) |
| `tab` / `shift+tab` | next / previous control |
| `m` | maximise the focused pane, or restore it (`escape` restores too) |
| `h` | hide the focused pane; `0` shows every pane again |
| `ctrl+p` | command palette: every action by name |
| `f1` or `?` | this help |
| `q` or `ctrl+q` | quit (stops the embedded stack) |
| `escape` | leave a text field, back to the pane's list |

## Subscriber

| key | action |
|---|---|
| `p` | pause (the view stays put, a counter shows what arrives) or follow again |
| `end` | follow again (scrolling up or moving the selection pauses) |
| `s` | edit the subscriptions: prefixes separated by commas, empty for everything |
| `/` | filter what is shown: plain text (any case) or `/regex/`, on path, kind and notes |
| `e` | export what is held (up to 10,000 messages) to `zmqtui-capture-<time>.jsonl` |
| `c` | clear the list (counts are totals since start and stay) |
| `↑` `↓` `pgup` `pgdn` `home` | move the selection (pauses) |

A subscription prefix that starts with `{` filters on the raw message; any other prefix on the
beginning of the file path. Exports go to `~/.local/share/zmqtui/captures` (`$XDG_DATA_HOME`,
or the `export_dir` setting), never into the watched directory; the notification names the file.

## Publisher

| key | action |
|---|---|
| `n` | publish by hand: type `FILE [created|modified|deleted|moved]`, then enter |

## Requests

| key | action |
|---|---|
| `enter` | enter the path field (`escape` leaves it); in a field, send |
| `ctrl+s` | send; `→` completes a path from the served directory |
| `x` | cancel the sends in flight (a load run stops at once) |
| `r` | resend the request selected in the history |

## Workers

| key | action |
|---|---|
| `k` `k` | kill the selected worker, on a second press (the cluster starts a replacement) |
| `r` | restart the selected worker |
| `+` / `-` | one worker more / fewer |
| `R` | restart the embedded cluster, once it exited or its stats went stale |

Rows no stats have confirmed for 5 s are dimmed as *stale*, with their age; a key that cannot
act now says why.

Press `escape`, `q` or `f1` to close this help.
"""


class HelpScreen(ModalScreen[None]):
    """Explains the panes and lists every key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "Close help"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 100;
            max-width: 95%;
            height: 90%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Markdown(HELP))
