"""Worker processes and their slots: start, watch, restart with backoff, stop on flapping.

A slot is a place for one worker. Its process is a real OS process started fresh (never a
fork of a process holding a Context), with a pipe on its stdin: when the supervisor dies, for
whatever reason, the pipe closes and the worker exits. A process that ends without being asked
is a crash: the slot restarts it after a delay that starts small and doubles (capped), and
resets once a process stayed up long enough; a slot whose processes keep dying right after
starting stops restarting ("errored"). A process that stops heart-beating is "stale": it is
killed and handled as a crash. Silence is measured on a clock that stands still while the
supervisor itself does not run (stopped, its loop held up): a worker is judged by the beats it
missed while the supervisor was looking, never by a pause of the supervisor's own. Stopping a
process on purpose (remove, restart, scale down, shutdown) is none of that.

Workers that join from elsewhere (`zmqtui worker --connect tcp://...`) show up through their
heartbeats as remote slots; they are watched but not started, stopped or signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from zmqtui.config import HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS
from zmqtui.protocol import WorkerStats
from zmqtui.services.broker import Broker
from zmqtui.services.worker import CounterFile, Counters, Heartbeat

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When a crashed worker comes back (PM2's exponential backoff, circus' flapping)."""

    delay: float = 0.1
    """First restart delay, seconds; doubles on each crash."""
    max_delay: float = 15.0
    stable_after: float = 30.0
    """A process up this long resets the delay."""
    min_uptime: float = 1.0
    """A process that dies sooner was unstable."""
    max_unstable: int = 10
    """This many unstable processes in a row and the slot is errored."""


class Backoff:
    """The restart delays of one slot under a `RestartPolicy`."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.next_delay = policy.delay
        self.unstable = 0

    def after_crash(self, uptime: float) -> float | None:
        """Seconds to wait before the next start, or None: stop restarting (errored)."""
        policy = self.policy
        if uptime >= policy.stable_after:
            self.next_delay = policy.delay
        self.unstable = self.unstable + 1 if uptime < policy.min_uptime else 0
        if self.unstable >= policy.max_unstable:
            return None
        delay = self.next_delay
        self.next_delay = min(delay * 2, policy.max_delay)
        return delay


@dataclass(frozen=True, slots=True)
class Timings:
    """Every timer of the supervisor; tests shrink them to run in seconds."""

    heartbeat_ms: int = HEARTBEAT_INTERVAL_MS
    liveness: int = HEARTBEAT_LIVENESS
    """Missed heartbeats before a worker is stale."""
    start_timeout_ms: int = 10_000
    """How long a new process may take to send its first heartbeat."""
    grace_ms: int = 5_000
    """Between SIGTERM and SIGKILL when stopping a worker."""
    restart: RestartPolicy = field(default_factory=RestartPolicy)

    @property
    def silence_limit(self) -> float:
        return self.heartbeat_ms * self.liveness / 1000


def describe_exit(code: int) -> str:
    """ "exit code 3" or "killed by SIGKILL", from a `Popen.returncode`."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LocalProcess:
    """One worker process this supervisor started, watched from `watched_from` (supervisor
    clock) until its first heartbeat."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        worker_id: str,
        counters: CounterFile,
        watched_from: float,
    ) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.worker_id = worker_id
        self.counter_file = counters
        self.started = time.monotonic()
        self.started_ms = int(time.time() * 1000)
        self.watched_from = watched_from
        self.last_heartbeat: float | None = None
        """Supervisor clock time of the latest heartbeat."""
        self.last_heartbeat_ms: int | None = None
        self.stop_deadline: float | None = None
        self.cpu_percent: float | None = None
        self.memory_bytes: int | None = None
        try:
            self._ps: psutil.Process | None = psutil.Process(self.pid)
            self._ps.cpu_percent(None)
        except psutil.Error:
            self._ps = None

    def counters(self) -> Counters:
        return self.counter_file.read()

    def sample(self) -> None:
        """CPU % since the last sample and resident memory."""
        if self._ps is None:
            return
        try:
            with self._ps.oneshot():
                self.cpu_percent = self._ps.cpu_percent(None)
                self.memory_bytes = self._ps.memory_info().rss
        except psutil.Error:
            self.cpu_percent = self.memory_bytes = None

    def signal(self, signum: int) -> None:
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signum)

    def terminate(self, grace: float) -> None:
        """SIGTERM now; `overdue` says when SIGKILL is due."""
        self.signal(signal.SIGTERM)
        self.stop_deadline = time.monotonic() + grace

    def overdue(self, now: float) -> bool:
        return self.stop_deadline is not None and now >= self.stop_deadline

    def close(self) -> Counters:
        """Release the pipe and counter file of an exited process; return its final counts."""
        final = self.counters()
        if self.popen.stdin:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
        self.counter_file.close()
        with contextlib.suppress(FileNotFoundError):
            self.counter_file.path.unlink()
        return final


class RemoteProcess:
    """A worker that joined over the network: known only from its heartbeats."""

    def __init__(self, beat: Heartbeat, at: float) -> None:
        self.worker_id = beat.worker
        self.pid = beat.pid
        self.host = beat.host
        self.started_ms = beat.started
        self.cpu_percent: float | None = None
        self.memory_bytes: int | None = None
        self.heard(beat, at)

    def heard(self, beat: Heartbeat, at: float) -> None:
        """Take a heartbeat that arrived at `at` (supervisor clock)."""
        self.last_heartbeat = at
        self.last_heartbeat_ms = int(time.time() * 1000)
        self.interval = beat.interval_ms / 1000
        self._counters = beat.counters

    def counters(self) -> Counters:
        return self._counters


@dataclass(eq=False)
class Slot:
    """A place for one worker and the history of the processes that held it."""

    index: int
    backoff: Backoff
    remote: bool = False
    state: str = "starting"
    process: LocalProcess | RemoteProcess | None = None
    retiring: list[LocalProcess] = field(default_factory=list)
    """Processes asked to stop, still running: their work still counts for this slot."""
    past: Counters = field(default_factory=Counters)
    """Counts of the processes that held the slot before."""
    pid: int | None = None
    restarts: int = 0
    crashes: int = 0
    last_exit: str | None = None
    restart_at: float | None = None
    latency_ms: float | None = None
    _sampled: Counters = field(default_factory=Counters)

    def counters(self) -> Counters:
        total = self.past
        if self.process is not None:
            total = total + self.process.counters()
        for proc in self.retiring:
            total = total + proc.counters()
        return total

    def sample_latency(self) -> None:
        """Mean time per request since the previous sample (kept while idle)."""
        now = self.counters()
        answered = now.requests - self._sampled.requests
        if answered > 0:
            self.latency_ms = (now.busy_seconds - self._sampled.busy_seconds) * 1000 / answered
        self._sampled = now

    def stats(self) -> WorkerStats:
        proc = self.process
        counts = self.counters()
        return WorkerStats(
            slot=self.index,
            pid=self.pid,
            state=self.state,
            requests=counts.requests,
            errors=counts.errors,
            restarts=self.restarts,
            started=proc.started_ms if proc else None,
            last_heartbeat=proc.last_heartbeat_ms if proc else None,
            latency_ms=None if self.latency_ms is None else round(self.latency_ms, 3),
            cpu_percent=proc.cpu_percent if proc else None,
            memory_bytes=proc.memory_bytes if proc else None,
            remote=self.remote,
            crashes=self.crashes,
            last_exit=self.last_exit,
            host=proc.host if isinstance(proc, RemoteProcess) else None,
        )


LaunchCommand = Callable[[int, str, Path], Sequence[str]]
"""(slot index, worker id, counters path) -> the argv that starts a worker."""


class Supervisor:
    """Owns the worker slots; driven by `tick`, `heard` and the control commands.

    Not thread-safe: call everything from one thread (the cluster's event loop).
    """

    def __init__(
        self,
        launch: LaunchCommand,
        broker: Broker,
        runtime_dir: Path,
        timings: Timings = Timings(),
    ) -> None:
        self.launch = launch
        self.broker = broker
        self.runtime_dir = runtime_dir
        self.timings = timings
        self.slots: list[Slot] = []
        self.changed = True
        """Set on every change of state; the owner clears it after publishing."""
        self._orphans: list[LocalProcess] = []
        """Processes of removed slots, still stopping."""
        self._last_look: float | None = None
        self._not_looking = 0.0
        """Seconds the supervisor was held up between two looks, beyond a heartbeat interval
        each time: left out of its clock."""

    # --- queries ------------------------------------------------------------------------------

    @property
    def local_slots(self) -> list[Slot]:
        return [slot for slot in self.slots if not slot.remote]

    def find_pid(self, pid: int) -> Slot | None:
        """The slot whose process has `pid`; else the local slot `list` shows with `pid`, whose
        process has exited (dead, errored)."""
        for slot in self.slots:
            if slot.process is not None and slot.process.pid == pid:
                return slot
        return next((s for s in self.local_slots if s.process is None and s.pid == pid), None)

    def stats(self) -> list[WorkerStats]:
        return [slot.stats() for slot in sorted(self.slots, key=lambda s: s.index)]

    def pids(self) -> list[int]:
        """Every local worker process not yet reaped, stopping ones included."""
        found = [proc.pid for proc in self._orphans]
        for slot in self.slots:
            if isinstance(slot.process, LocalProcess):
                found.append(slot.process.pid)
            found.extend(proc.pid for proc in slot.retiring)
        return found

    # --- commands -----------------------------------------------------------------------------

    def add(self) -> Slot:
        """A new local slot with a starting process."""
        slot = Slot(index=self._free_index(), backoff=Backoff(self.timings.restart))
        self.slots.append(slot)
        self._start(slot)
        return slot

    def remove(self, pid: int | None = None) -> Slot | None:
        """Stop a slot's worker on purpose and drop the slot; errored slots go first."""
        if pid is not None:
            slot = self.find_pid(pid)
            if slot is None or slot.remote:
                return None
        else:
            local = self.local_slots
            if not local:
                return None
            errored = [s for s in local if s.state == "errored"]
            slot = errored[0] if errored else max(local, key=lambda s: s.index)
        self._retire(slot)
        self.slots.remove(slot)
        self._orphans.extend(slot.retiring)
        slot.retiring = []
        self.changed = True
        return slot

    def scale(self, count: int) -> list[Slot]:
        """Add or remove local slots until there are `count` (errored ones go first); errored
        slots that stay are started again, as `count` workers were asked for. Returns those."""
        while len(self.local_slots) < count:
            self.add()
        while len(self.local_slots) > count:
            self.remove()
        errored = [slot for slot in self.local_slots if slot.state == "errored"]
        for slot in errored:
            self.restart(slot)
        return errored

    def restart(self, slot: Slot) -> None:
        """Replace the slot's process with a fresh one; not a crash. An errored slot gets its
        restarts back: asking for it is a new start."""
        if slot.state == "errored":
            slot.backoff = Backoff(self.timings.restart)
        self._retire(slot)
        slot.restarts += 1
        self._start(slot)

    def kill(self, slot: Slot) -> None:
        """SIGKILL the slot's process: it is replaced like a crashed one."""
        if isinstance(slot.process, LocalProcess):
            slot.process.signal(signal.SIGKILL)

    # --- events -------------------------------------------------------------------------------

    def heard(self, beat: Heartbeat) -> None:
        """A heartbeat arrived: the worker is alive (and maybe new to us)."""
        at = self._clock()
        slot = self._by_worker(beat.worker)
        if slot is None:
            if beat.slot is not None or beat.final:
                # One of ours that is stopping or gone (its last words arrive late), or one
                # leaving: no new slot for it.
                return
            slot = Slot(
                index=self._free_index(), backoff=Backoff(self.timings.restart), remote=True
            )
            slot.process = RemoteProcess(beat, at)
            slot.pid = beat.pid
            self.slots.append(slot)
            logger.info("remote worker %s (pid %d on %s) joined", beat.worker, beat.pid, beat.host)
        proc = slot.process
        if isinstance(proc, RemoteProcess):
            proc.heard(beat, at)
            if beat.final:
                logger.info("remote worker %s left", beat.worker)
                self.broker.retire(beat.worker)
                self.slots.remove(slot)
                self.changed = True
                return
        elif isinstance(proc, LocalProcess):
            if slot.state == "stale":
                return  # already killed; its last words change nothing
            proc.last_heartbeat = at
            proc.last_heartbeat_ms = int(time.time() * 1000)
        self._set_state(slot, "busy" if beat.busy else "ready")

    def tick(self) -> None:
        """Reap exited processes, find silent ones, start slots whose delay is over.

        Call it after handing over the heartbeats that arrived meanwhile (`heard`): a
        supervisor that was held up has them queued, and they are the workers' alibi.
        """
        now = time.monotonic()
        clock = self._clock()
        for slot in list(self.slots):
            self._reap_retiring(slot, now)
            if slot.remote:
                self._watch_remote(slot, clock)
                continue
            proc = slot.process
            if isinstance(proc, LocalProcess):
                code = proc.popen.poll()
                if code is not None:
                    self._crashed(slot, proc, code, now)
                else:
                    self._watch_local(slot, proc, clock)
            elif slot.restart_at is not None and now >= slot.restart_at:
                slot.restarts += 1
                self._start(slot)
        for proc in list(self._orphans):
            if self._reap(proc, now) is not None:
                self._orphans.remove(proc)

    def sample(self) -> None:
        """CPU, memory and recent latency, once per stats interval."""
        for slot in self.slots:
            if isinstance(slot.process, LocalProcess):
                slot.process.sample()
            slot.sample_latency()

    async def shutdown(self) -> None:
        """Stop every local worker: SIGTERM, then SIGKILL after the grace period; reap all."""
        for slot in self.slots:
            slot.restart_at = None
            if not slot.remote:
                self._retire(slot)
                self._orphans.extend(slot.retiring)
                slot.retiring = []
        deadline = time.monotonic() + self.timings.grace_ms / 1000
        while self._orphans and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            self.tick()
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL and reap every local process now (the last resort of any shutdown)."""
        procs = list(self._orphans)
        for slot in self.slots:
            procs.extend(slot.retiring)
            if isinstance(slot.process, LocalProcess):
                procs.append(slot.process)
                slot.process = None
        for proc in procs:
            proc.signal(signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
            proc.close()
        self._orphans.clear()
        for slot in self.slots:
            slot.retiring = []

    # --- internals ----------------------------------------------------------------------------

    def _clock(self) -> float:
        """Now, in seconds on the supervisor's clock: monotonic time less the time it was held
        up. Every call is a look; a look more than a heartbeat interval after the previous one
        counts the excess as time the supervisor did not run, whose silence no worker owes."""
        now = time.monotonic()
        if self._last_look is not None:
            held_up = now - self._last_look - self.timings.heartbeat_ms / 1000
            self._not_looking += max(0.0, held_up)
        self._last_look = now
        return now - self._not_looking

    def _free_index(self) -> int:
        used = {slot.index for slot in self.slots}
        return next(i for i in range(len(used) + 1) if i not in used)

    def _by_worker(self, worker_id: str) -> Slot | None:
        for slot in self.slots:
            if slot.process is not None and slot.process.worker_id == worker_id:
                return slot
        return None

    def _set_state(self, slot: Slot, state: str) -> None:
        if slot.state != state:
            slot.state = state
            self.changed = True

    def _start(self, slot: Slot) -> None:
        worker_id = f"s{slot.index}-{secrets.token_hex(4)}"
        path = self.runtime_dir / f"{worker_id}.counters"
        counters = CounterFile.prepare(path)
        try:
            popen = subprocess.Popen(
                list(self.launch(slot.index, worker_id, path)),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            counters.close()
            path.unlink(missing_ok=True)
            logger.error("cannot start a worker for slot %d: %s", slot.index, exc)
            slot.process = None
            self._set_state(slot, "errored")
            return
        slot.process = LocalProcess(popen, worker_id, counters, self._clock())
        slot.pid = popen.pid
        slot.restart_at = None
        self._set_state(slot, "starting")
        self.changed = True

    def _retire(self, slot: Slot) -> None:
        """Ask the slot's process to stop; it keeps counting for the slot until it exits."""
        proc = slot.process
        slot.process = None
        slot.restart_at = None
        if isinstance(proc, LocalProcess):
            self.broker.retire(proc.worker_id)
            proc.terminate(self.timings.grace_ms / 1000)
            slot.retiring.append(proc)

    def _reap(self, proc: LocalProcess, now: float) -> Counters | None:
        """The final counts of a retiring process that exited; SIGKILL it when overdue."""
        if proc.popen.poll() is None:
            if proc.overdue(now):
                proc.signal(signal.SIGKILL)
            return None
        return proc.close()

    def _reap_retiring(self, slot: Slot, now: float) -> None:
        for proc in list(slot.retiring):
            final = self._reap(proc, now)
            if final is not None:
                slot.past = slot.past + final
                slot.retiring.remove(proc)

    def _crashed(self, slot: Slot, proc: LocalProcess, code: int, now: float) -> None:
        slot.past = slot.past + proc.close()
        slot.process = None
        slot.crashes += 1
        slot.last_exit = describe_exit(code)
        self.broker.forget(proc.worker_id)
        delay = slot.backoff.after_crash(now - proc.started)
        if delay is None:
            policy = self.timings.restart
            logger.error(
                "worker slot %d is errored: %d processes in a row died within %.1fs of "
                "starting (last: pid %d, %s); not restarting it",
                slot.index,
                policy.max_unstable,
                policy.min_uptime,
                proc.pid,
                slot.last_exit,
            )
            self._set_state(slot, "errored")
            return
        logger.warning(
            "worker pid %d (slot %d) %s; restarting in %.2fs",
            proc.pid,
            slot.index,
            slot.last_exit,
            delay,
        )
        slot.restart_at = now + delay
        self._set_state(slot, "dead")

    def _watch_local(self, slot: Slot, proc: LocalProcess, clock: float) -> None:
        if slot.state == "stale":
            return
        if proc.last_heartbeat is None:
            silent = clock - proc.watched_from > self.timings.start_timeout_ms / 1000
        else:
            silent = clock - proc.last_heartbeat > self.timings.silence_limit
        if silent:
            logger.warning("worker pid %d (slot %d) is silent; killing it", proc.pid, slot.index)
            self._set_state(slot, "stale")
            self.broker.forget(proc.worker_id)
            proc.signal(signal.SIGKILL)

    def _watch_remote(self, slot: Slot, clock: float) -> None:
        proc = slot.process
        assert isinstance(proc, RemoteProcess)
        limit = proc.interval * self.timings.liveness
        silent_for = clock - proc.last_heartbeat
        if silent_for > 2 * limit:
            logger.warning("remote worker %s is gone", proc.worker_id)
            self.slots.remove(slot)
            self.changed = True
        elif silent_for > limit and slot.state != "stale":
            self.broker.forget(proc.worker_id, revivable=True)
            self._set_state(slot, "stale")
