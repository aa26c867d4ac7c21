"""The workers pane on scripted snapshots: rows by diff, rates, keys and offline state."""

from __future__ import annotations

from dataclasses import replace

from helpers import wait_for
from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Footer, Sparkline, Static
from textual.widgets._footer import FooterKey

from zmqtui.protocol import WORKER_STATES, ClusterSnapshot, WorkerStats
from zmqtui.tui.panes.base import OfflineBanner
from zmqtui.tui.panes.workers import WorkersPane
from zmqtui.tui.panes.workers.pane import SCALE_PATIENCE_MS
from zmqtui.tui.panes.workers.rates import RateTracker
from zmqtui.tui.widgets.table import Column, LiveTable

T0 = 1_700_000_000_000
"""A fixed 'now' (ms): uptimes come from the snapshot's own timestamp."""


def worker(
    slot: int, pid: int | None, state: str = "ready", requests: int = 0, **extra
) -> WorkerStats:
    return WorkerStats(
        slot=slot,
        pid=pid,
        state=state,
        requests=requests,
        started=T0 - 65_000,
        latency_ms=1.5,
        cpu_percent=2.0,
        memory_bytes=30 * 1024 * 1024,
        **extra,
    )


def snapshot(workers: list[WorkerStats], at: int = T0, pid: int = 4242) -> ClusterSnapshot:
    return ClusterSnapshot(
        pid=pid,
        timestamp=at,
        endpoints={"frontend": "tcp://127.0.0.1:60401"},
        routing="lb",
        broker={
            "frontend_in": 30,
            "frontend_bytes_in": 2048,
            "frontend_out": 30,
            "frontend_bytes_out": 4096,
            "backend_in": 30,
            "backend_bytes_in": 4096,
            "backend_out": 30,
            "backend_bytes_out": 2048,
            "queued": 0,
            "idle_workers": 3,
        },
        workers=workers,
    )


THREE = [worker(0, 40), worker(1, 41), worker(2, 42)]


class Host(App[None]):
    """The pane alone, on a clock the test moves; keeps every notification's text."""

    def __init__(self, *, embedded: bool = False) -> None:
        super().__init__()
        self.embedded = embedded
        self.now = 100.0
        self.told: list[str] = []

    def compose(self) -> ComposeResult:
        yield WorkersPane(embedded=self.embedded, clock=lambda: self.now)
        yield Footer()

    def notify(self, message: str, **kwargs) -> None:
        self.told.append(message)
        super().notify(message, **kwargs)


def posted(messages: list[Message], kind: type[Message]) -> list[Message]:
    """Messages of `kind` in order, each once (the hook sees a message at every hop it bubbles)."""
    unique = {id(message): message for message in messages if isinstance(message, kind)}
    return list(unique.values())


def cells(pane: WorkersPane, slot: int) -> list[str]:
    return [cell.plain for cell in pane.table.get_row(slot)]


class TestRateTracker:
    def test_rates_from_counters_over_the_supervisors_clock(self):
        rates = RateTracker(history=3)
        assert not rates.observe(snapshot([worker(0, 40, requests=100)]))
        assert rates.rate(0) is None
        assert rates.observe(snapshot([worker(0, 40, requests=150)], at=T0 + 2000))
        assert rates.rate(0) == 25.0
        assert rates.cluster_rate == 25.0
        assert list(rates.history) == [0.0, 0.0, 25.0]

    def test_change_snapshots_in_between_wait_for_a_full_interval(self):
        rates = RateTracker()
        rates.observe(snapshot([worker(0, 40, requests=0)]))
        assert not rates.observe(snapshot([worker(0, 40, requests=5)], at=T0 + 100))
        assert rates.observe(snapshot([worker(0, 40, requests=10)], at=T0 + 1000))
        assert rates.rate(0) == 10.0

    def test_a_replaced_process_has_no_rate_for_one_interval(self):
        rates = RateTracker()
        rates.observe(snapshot([worker(0, 40, requests=500), worker(1, 41, requests=0)]))
        rates.observe(
            snapshot([worker(0, 99, requests=3), worker(1, 41, requests=7)], at=T0 + 1000)
        )
        assert rates.rate(0) is None
        assert rates.cluster_rate == 7.0

    def test_a_restarted_supervisor_starts_over(self):
        rates = RateTracker()
        rates.observe(snapshot([worker(0, 40, requests=500)]))
        assert not rates.observe(snapshot([worker(0, 40, requests=0)], at=T0 + 1000, pid=7))
        assert rates.cluster_rate is None


class TestTable:
    async def test_rows_by_slot_with_state_uptime_and_units(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(
                snapshot([worker(2, 42), worker(0, 40, "busy"), worker(1, None, "dead")])
            )
            await pilot.pause()
            assert pane.table.row_keys == (0, 1, 2)
            assert cells(pane, 0) == [
                "0",
                "40",
                "busy",
                "0",
                "—",
                "0",
                "0",
                "1m05s",
                "2.0",
                "30.0M",
                "1.5",
                "0",
                "—",
            ]
            assert cells(pane, 1)[1:3] == ["—", "dead"]
            assert cells(pane, 1)[7] == "—", "a dead slot has no uptime"
            header = str(app.query_one("#workers-header", Static).render())
            assert "supervisor 4242" in header and "routing lb" in header
            assert "1 ready  1 busy  1 dead" in header
            assert "frontend  in 30 · 2.0K out 30 · 4.0K" in header
            assert "backend   in 30 · 4.0K out 30 · 2.0K  queued 0  idle 3" in header

    async def test_crashes_and_the_last_exit_are_shown_and_give_way_first(self):
        app = Host()
        async with app.run_test(size=(120, 20)) as pilot:
            pane = app.query_one(WorkersPane)
            crashed = worker(1, 41, crashes=3, last_exit="killed by SIGKILL", restarts=3)
            pane.update_snapshot(snapshot([worker(0, 40), crashed]))
            await pilot.pause()
            assert cells(pane, 1)[-2:] == ["3", "killed by SIGKILL"]
            assert "crash last exit" in pane.table.render_line(0).text
            assert "killed by SIGKILL" in pane.table.render_line(2).text
            await pilot.resize_terminal(60, 20)
            await pilot.pause()
            shown = [column.key for column in pane.table.shown_columns]
            assert shown[:4] == ["slot", "pid", "state", "requests"]
            assert "last_exit" not in shown and "crashes" not in shown, "the first to go"
            dropped = [c for c in pane.table.columns if c.key not in shown]
            kept = [c for c in pane.table.columns if c.key in shown and c.drop_order]
            assert max(c.drop_order or 0 for c in dropped) < min(c.drop_order or 0 for c in kept)
            header = pane.table.render_line(0).text
            assert "last exit" not in header and "uptime" in header
            assert pane.table.virtual_size.width <= pane.table.scrollable_content_region.width
            await pilot.resize_terminal(120, 20)
            await pilot.pause()
            assert len(pane.table.shown_columns) == len(pane.table.columns)

    async def test_the_broker_line_names_lb_gauges_and_only_problems_that_happened(self):
        app = Host()
        async with app.run_test(size=(160, 30)) as pilot:
            pane = app.query_one(WorkersPane)
            quiet = snapshot([worker(0, 101)])
            counters = {"held": 2, "requests_requeued": 0, "unanswered": 0, "backend_dropped": 0}
            pane.update_snapshot(replace(quiet, broker={**quiet.broker, **counters}))
            await pilot.pause()
            header = str(app.query_one("#workers-header", Static).render())
            assert "queued 0  idle 3  held 2" in header
            assert "requeued" not in header and "unanswered" not in header
            assert "dropped" not in header
            counters |= {"unanswered": 4, "backend_dropped": 1, "future_counter": 0}
            pane.update_snapshot(replace(quiet, broker={**quiet.broker, **counters}, seq=2))
            await pilot.pause()
            header = str(app.query_one("#workers-header", Static).render())
            assert "held 2  unanswered 4  dropped out 1  future_counter 0" in header

    async def test_cursor_and_scroll_stay_on_the_same_worker_as_rows_come_and_go(self):
        many = [worker(slot, 100 + slot) for slot in range(40)]
        app = Host()
        async with app.run_test(size=(90, 20)) as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(many))
            pane.table.focus()
            await pilot.pause()
            pane.table.move_cursor(30)  # slot 30's row
            await pilot.pause()
            scroll_y = pane.table.scroll_y
            assert scroll_y > 0
            survivors = [w for w in many if w.slot not in (5, 6)] + [worker(40, 140)]
            pane.update_snapshot(snapshot(survivors, at=T0 + 1000))
            await pilot.pause()
            assert pane.table.cursor_key == 30
            assert pane.table.scroll_y == scroll_y
            assert pane.table.row_keys[-1] == 40
            assert 5 not in pane.table.row_keys

    async def test_a_row_that_disappears_under_the_cursor_leaves_it_in_place(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            pane.table.focus()
            await pilot.press("down")
            pane.update_snapshot(snapshot([THREE[0], THREE[2]], at=T0 + 1000))
            await pilot.pause()
            assert pane.table.cursor_key == 2

    async def test_only_changed_rows_are_rendered_again(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            await pilot.pause()
            before = dict(pane.table._strips)
            assert set(before) == {0, 1, 2}
            changed = [THREE[0], replace(THREE[1], requests=5), THREE[2]]
            pane.update_snapshot(snapshot(changed, at=T0 + 100))
            await pilot.pause()
            assert pane.table._strips[0] is before[0]
            assert pane.table._strips[2] is before[2]
            assert pane.table._strips[1] is not before[1]
            assert cells(pane, 1)[3] == "5"

    async def test_a_change_of_style_alone_repaints_the_row(self):
        class TableHost(App[None]):
            def compose(self) -> ComposeResult:
                yield LiveTable([Column("state", "state", 8)])

        app = TableHost()
        async with app.run_test() as pilot:
            table = app.query_one(LiveTable)
            table.set_rows([(0, ["cursor"]), (1, [Text("ready", style="green")])])
            await pilot.pause()
            assert table.render_line(2)._segments[0].style.color.name == "green"
            table.set_rows([(0, ["cursor"]), (1, [Text("ready", style="red")])])
            await pilot.pause()
            assert table.render_line(2)._segments[0].style.color.name == "red"

    async def test_rates_column_and_throughput_from_successive_snapshots(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot([worker(0, 40, requests=0), worker(1, 41, requests=0)]))
            pane.update_snapshot(
                snapshot([worker(0, 40, requests=30), worker(1, 41, requests=2500)], at=T0 + 1000)
            )
            await pilot.pause()
            assert cells(pane, 0)[4] == "30.0"
            assert cells(pane, 1)[4] == "2.5k", "as the feeds write rates, without their /s"
            assert app.query_one(Sparkline).data[-1] == 2530.0
            assert "req/s 2.5k  max 2.5k" in str(app.query_one("#workers-rate", Static).render())

    async def test_hostile_snapshots_are_shown_safely(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            # fields of the wrong type never get here: WorkerStats.from_wire refuses them
            odd = snapshot([worker(0, 40, state="[bold]x[/bold]\x1b[2J"), worker(1, 41)])
            odd.routing = "[red]rr"
            pane.update_snapshot(odd)
            await pilot.pause()
            assert cells(pane, 0)[2] == "[bold]x[/bold]\\x1b[2J", "ESC cannot reach the terminal"
            assert "[bold]x…" in pane.table.render_line(1).text, "cut to the column, ellipsis"
            assert "routing [red]rr" in str(app.query_one("#workers-header", Static).render())

    async def test_each_state_has_its_own_colour(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(
                snapshot([worker(slot, slot, state) for slot, state in enumerate(WORKER_STATES)])
            )
            await pilot.pause()
            styles = [pane.table.get_row(slot)[2].style for slot in range(len(WORKER_STATES))]
            assert all(style.color for style in styles)
            assert len(set(styles)) == len(WORKER_STATES)


class TestActions:
    async def test_k_and_r_act_on_the_selected_or_clicked_worker(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            pane.table.focus()
            await pilot.press("down", "down", "k", "k", "up", "r")
            await pilot.click("#workers-table", offset=(3, 1))  # the first row, under the header
            await pilot.press("k", "k")
            await pilot.pause()
            assert posted(messages, WorkersPane.KillRequested) == [
                WorkersPane.KillRequested(42),
                WorkersPane.KillRequested(40),
            ]
            assert posted(messages, WorkersPane.RestartRequested) == [
                WorkersPane.RestartRequested(41)
            ]

    async def test_k_asks_for_a_second_press_on_the_same_worker(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            pane.table.focus()
            await pilot.press("k")
            await pilot.pause()
            assert not posted(messages, WorkersPane.KillRequested)
            assert app.told[-1].startswith("press k again to kill pid 40")
            await pilot.press("down", "k")  # another worker: asks again
            app.now += 10  # too late for the first press
            await pilot.press("k")
            await pilot.pause()
            assert not posted(messages, WorkersPane.KillRequested)
            await pilot.press("k")
            await pilot.pause()
            assert posted(messages, WorkersPane.KillRequested) == [WorkersPane.KillRequested(41)]

    async def test_kill_on_a_slot_without_a_process_posts_nothing(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot([worker(0, None, "dead")]))
            pane.table.focus()
            await pilot.press("k")
            await pilot.pause()
            assert not posted(messages, WorkersPane.KillRequested)
            assert pane.check_action("kill", ()) is None, "shown disabled in the footer"
            assert app.told == ["cannot kill: slot 0 has no process"]

    async def test_the_footer_greys_out_kill_on_a_slot_without_a_process(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot([worker(0, 40), worker(1, None, "dead")]))
            pane.table.focus()
            await pilot.pause()

            def kill_key() -> FooterKey:
                return next(key for key in app.query(FooterKey) if key.key == "k")

            assert not kill_key().has_class("-disabled")
            await pilot.press("down")
            await wait_for(lambda: kill_key().has_class("-disabled"))

    async def test_scale_keys_count_from_the_local_workers(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            pane.table.focus()
            await pilot.press("plus")  # nothing known yet: nothing asked
            pane.update_snapshot(snapshot([*THREE, worker(3, 77, remote=True)]))
            await pilot.press("plus", "plus")
            # a periodic snapshot from before the cluster scaled: presses still add up
            pane.update_snapshot(snapshot(THREE, at=T0 + 1000))
            await pilot.press("plus")
            six = [*THREE, worker(3, 43), worker(4, 44), worker(5, 45)]
            pane.update_snapshot(snapshot(six, at=T0 + 2000))  # reached
            await pilot.press("minus")
            # the cluster never got there: after a while presses count from what it reports
            pane.update_snapshot(snapshot(six, at=T0 + 2000 + SCALE_PATIENCE_MS))
            await pilot.press("minus")
            await pilot.pause()
            assert [m.workers for m in posted(messages, WorkersPane.ScaleRequested)] == [
                4,
                5,
                6,
                5,
                5,
            ]


class TestOffline:
    async def test_offline_reason_shows_until_the_next_snapshot(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            reason = "no stats from tcp://127.0.0.1:60402 — is the cluster running? [bold]"
            pane.set_offline(reason)
            await pilot.pause()
            banner = app.query_one(OfflineBanner)
            assert banner.display and str(banner.render()) == reason
            assert pane.table.row_keys == (0, 1, 2), "the last rows stay, dimmed"
            pane.update_snapshot(snapshot(THREE, at=T0 + 1000))
            await pilot.pause()
            assert not banner.display


def state_colour(pane: WorkersPane, slot: int) -> object:
    return pane.table.get_row(slot)[2].style


class TestStale:
    async def test_rows_no_snapshot_confirms_are_stale_not_live(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            live_colour = state_colour(pane, 0)
            app.now += 3
            pane.check_freshness()
            assert pane.live and not pane.has_class("-offline")
            app.now += 9
            pane.check_freshness()
            await pilot.pause()
            assert not pane.live and pane.has_class("-offline")
            banner = str(app.query_one(OfflineBanner).render())
            assert banner == "stale: last stats 12s ago"
            header = str(app.query_one("#workers-header", Static).render())
            assert "last known, 12s ago: 3 ready" in header
            assert state_colour(pane, 0) != live_colour, "no longer in the colour of ready"
            assert cells(pane, 0)[7] == "—", "no uptime ticking for a process not heard of"
            app.now += 1
            pane.check_freshness()
            banner = str(app.query_one(OfflineBanner).render())
            assert banner == "stale: last stats 13s ago"
            pane.update_snapshot(snapshot(THREE, at=T0 + 13_000))
            await pilot.pause()
            assert pane.live and not pane.has_class("-offline")
            assert state_colour(pane, 0) == live_colour and cells(pane, 0)[7] == "1m18s"

    async def test_a_slow_stats_interval_is_not_taken_for_silence(self):
        app = Host()
        async with app.run_test():
            pane = app.query_one(WorkersPane)
            for beat in range(3):  # a cluster started with --stats-interval-ms 10000
                pane.update_snapshot(snapshot(THREE, at=T0 + beat * 10_000))
                app.now += 10
            pane.check_freshness()
            assert pane.live
            app.now += 25
            pane.check_freshness()
            assert not pane.live

    async def test_an_exited_cluster_is_shown_so_and_R_starts_it_again(self):
        messages: list[Message] = []
        app = Host(embedded=True)
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            pane.table.focus()
            await pilot.pause()
            assert pane.check_action("restart_cluster", ()) is False, "hidden while it runs"
            pane.set_cluster_exited("killed by SIGKILL")
            await pilot.pause()
            banner = str(app.query_one(OfflineBanner).render())
            assert banner == "the embedded cluster exited (killed by SIGKILL): R restarts it"
            header = str(app.query_one("#workers-header", Static).render())
            assert "last known, 0s ago: 3 ready" in header
            await pilot.press("k", "plus")
            await pilot.pause()
            assert app.told == [
                "cannot kill: the embedded cluster exited (killed by SIGKILL): R restarts it",
                "cannot scale: the embedded cluster exited (killed by SIGKILL): R restarts it",
            ]
            await wait_for(lambda: any(key.key == "R" for key in app.query(FooterKey)))
            await pilot.press("R")
            await pilot.pause()
            assert posted(messages, WorkersPane.ClusterRestartRequested)
            banner = str(app.query_one(OfflineBanner).render())
            assert banner == "restarting the embedded cluster…"
            pane.update_snapshot(snapshot(THREE, at=T0 + 5000, pid=4343))
            await pilot.pause()
            assert pane.live and not pane.has_class("-offline")

    async def test_attached_there_is_no_cluster_to_restart(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            pane.update_snapshot(snapshot(THREE))
            app.now += 60
            pane.check_freshness()
            pane.table.focus()
            await pilot.press("R")
            await pilot.pause()
            assert not posted(messages, WorkersPane.ClusterRestartRequested)
            assert app.told == [
                "cannot restart the cluster: attached, the monitor started no cluster to restart"
            ]


class TestWithoutStats:
    async def test_keys_that_cannot_work_say_why_and_the_pane_promises_nothing(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(WorkersPane)
            reason = "no --stats endpoint given: the cluster's workers are not shown"
            pane.show_connection("off", None)
            pane.table.focus()
            await pilot.press("k", "r", "plus", "minus")
            await pilot.pause()
            assert app.told == [
                f"cannot kill: {reason}",
                f"cannot restart a worker: {reason}",
                f"cannot scale: {reason}",
                f"cannot scale: {reason}",
            ]
            assert not [m for m in messages if isinstance(m, WorkersPane.ScaleRequested)]
            assert str(app.query_one(OfflineBanner).render()) == reason
            assert str(app.query_one("#workers-header", Static).render()) == ""
            assert not app.query_one("#workers-top").display
            assert app.focused is pane.table, "the keys still reach the pane"
