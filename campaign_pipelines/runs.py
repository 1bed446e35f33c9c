"""Runs that `campaigns` executes in its own process: a later command can tell when their
process is gone, a run waiting for a pool slot says what it waits for, and Ctrl-C stops it.

Dagster frees a step's pool slot when the step ends. A process killed in the middle of a step
(kill -9, the OOM killer, a closed laptop) never ends it: its run stays STARTED, its slot stays
claimed, and with the pool ``warehouse`` at one slot every later deploy waits forever. Runs the
daemon launches are watched by Dagster's run monitoring (``run_monitoring`` in dagster.yaml).
Runs the command executes in process have no launcher watching them, so they carry where they
run (``process_tags``), and before running a job the command fails every run of this host
whose process is gone and frees its slots (``reap_dead_runs``).

Dagster's in-process executor only notices Ctrl-C inside a step, so a run waiting for a slot
would wait on. ``RunWatch`` (a thread beside the run) sees the signal through
``signal.set_wakeup_fd``, marks the run CANCELING so that a step Dagster interrupts ends it as
canceled, and when the run has not ended a moment later (it was waiting) cancels it, frees its
slots and ends the process with exit code 130. Nothing is lost that way: every write of this
project is a transaction or an atomic rename. The same thread prints, every ``WAIT_REPORT_S``,
which run holds the slot a step waits for.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import dagster as dg

HOST_TAG, PID_TAG, PID_START_TAG = "campaigns/host", "campaigns/pid", "campaigns/pid_start"
INVOCATION_TAG = "campaigns/invocation"
WAIT_REPORT_S = 10.0
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
_POLL_S = 1.0
# For Dagster to end an interrupted step itself. A step can swallow the interrupt (DuckDB turns
# it into an InterruptException, which a retry policy then retries), so it is not waited for.
_GRACE_S = 3.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}  # Dagster maps SIGTERM to SIGINT during a run
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

_ENDED = {
    dg.DagsterRunStatus.CANCELED: "canceled",
    dg.DagsterRunStatus.FAILURE: "failed",
    dg.DagsterRunStatus.SUCCESS: "had succeeded already",
}

Say = Callable[[str], None]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the run; the message names it and says what became of it."""


def say_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def process_tags(invocation: str) -> dict[str, str]:
    """Where this process runs, and which of its executions the run is."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), INVOCATION_TAG: invocation}
    if started := _process_start(os.getpid()):
        tags[PID_START_TAG] = started
    return tags


def _process_start(pid: int) -> str | None:
    """The kernel's start time of the process (Linux), which tells a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie has finished already


def process_gone(tags: dict[str, str]) -> bool:
    """Whether the process that executed a run tagged by ``process_tags`` no longer exists."""
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    recorded = tags.get(PID_START_TAG)
    if recorded is None or not Path("/proc").is_dir():
        return False  # nothing tells a reused pid apart: take it as alive
    return _process_start(pid) != recorded  # None: a zombie, finished already


def reap_dead_runs(instance: dg.DagsterInstance, say: Say) -> list[str]:
    """Fails every unfinished run this host executed in a process that is gone, and frees the
    pool slots of those runs and of finished ones whose process is gone; says each."""
    host = socket.gethostname()
    storage = instance.event_log_storage
    reaped = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host})
    )
    for record in records:
        run = record.dagster_run
        if PID_TAG not in run.tags or not process_gone(run.tags):
            continue
        pid = run.tags[PID_TAG]
        why = (f"the process that executed it (pid {pid} on {host}) no longer exists: it was "
               f"killed or crashed. Marked failed by campaigns (pid {os.getpid()}), which freed "
               "its pool slots")
        instance.report_run_failed(run, message=f"Run {run.run_id}: {why}.")
        if storage.supports_global_concurrency_limits:
            storage.free_concurrency_slots_for_run(run.run_id)
        say(f"run {run.run_id} ({describe_run(instance, run.run_id)}) was left "
            f"{run.status.value}: {why}")
        reaped.append(run.run_id)
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids() - set(reaped):
            run = instance.get_run_by_id(run_id)
            if run is None or not run.is_finished or run.tags.get(HOST_TAG) != host:
                continue
            if PID_TAG in run.tags and process_gone(run.tags):
                storage.free_concurrency_slots_for_run(run_id)
                say(f"run {run_id} had ended ({run.status.value}) but still held pool slots; "
                    "its process is gone: freed them")
                reaped.append(run_id)
    return reaped


def describe_run(instance: dg.DagsterInstance, run_id: str) -> str:
    """``job, partition P, started T`` as the UI would show it."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return "not in this instance's run history"
    run = record.dagster_run
    parts = [run.job_name]
    if partition := run.tags.get("dagster/partition"):
        parts.append(f"partition {partition}")
    if record.start_time:
        started = datetime.fromtimestamp(record.start_time).astimezone()
        parts.append(f"started {started.isoformat(sep=' ', timespec='seconds')}")
    else:
        parts.append(f"{run.status.value.lower()}, not started yet")
    return ", ".join(parts)


def slot_waits(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """One sentence per pool in which a step of the run waits for a slot."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    infos = storage.get_concurrency_infos(list(storage.get_concurrency_keys()))
    waits = []
    for pool, info in sorted(infos.items()):
        mine = [s for s in info.pending_steps if s.run_id == run_id]
        if not mine or any(s.assigned_timestamp is not None for s in mine):
            continue
        holders = dict.fromkeys(s.run_id for s in info.claimed_slots if s.run_id != run_id)
        if holders:
            held = ", ".join(f"run {h} ({describe_run(instance, h)})" for h in holders)
            waits.append(f"waiting for a slot of pool '{pool}', held by {held}")
        else:
            waits.append(f"waiting for a slot of pool '{pool}' (limit {info.limit})")
    return waits


class RunWatch:
    """Beside one in-process execution tagged with ``invocation``: reports slot waits, turns
    Ctrl-C into a canceled run (see the module docstring). Signals are only seen when entered
    on the main thread; ``interrupted`` tells whether one came."""

    def __init__(self, instance: dg.DagsterInstance, invocation: str, say: Say,
                 on_run: Callable[[str], None] | None = None):
        self._instance, self._invocation, self._say, self._on_run = (
            instance, invocation, say, on_run)
        self.run_id: str | None = None
        self.interrupted = False
        self._stop = threading.Event()
        self._finding = threading.Lock()
        self._pipe: tuple[int, int] | None = None
        self._previous_fd = -1
        self._waiting_since: float | None = None
        self._last_report: float | None = None

    def __enter__(self) -> RunWatch:
        if threading.current_thread() is threading.main_thread():
            read, write = os.pipe()
            os.set_blocking(write, False)
            self._pipe = (read, write)
            self._previous_fd = signal.set_wakeup_fd(write)
        self._thread = threading.Thread(target=self._watch, name="campaigns-run-watch",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._pipe:
            with contextlib.suppress(OSError):
                os.write(self._pipe[1], b"\0")  # wakes the thread; not a signal number
        self._thread.join(timeout=10)
        if self.run_id is None:  # a run quicker than the first look still gets announced
            self._find_run(self._instance)
        if self._pipe:
            signal.set_wakeup_fd(self._previous_fd)
            for fd in self._pipe:
                os.close(fd)

    def stopped(self) -> RunInterrupted:
        """After Ctrl-C ended the execution: the run ended, its slots freed, said so."""
        instance = self._instance
        run_id = self._find_run(instance)
        run = instance.get_run_by_id(run_id) if run_id else None
        if run is None:
            return RunInterrupted("interrupted before the run started")
        if not run.is_finished:
            instance.report_run_canceled(run, message="Canceled by Ctrl-C in campaigns.")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        status = instance.get_run_by_id(run.run_id).status
        ended = _ENDED.get(status, status.value.lower())
        return RunInterrupted(f"interrupted: run {run.run_id} {ended}, its pool slots freed")

    def _watch(self) -> None:
        instance = _own_instance(self._instance)
        try:
            while not self._stop.is_set():
                try:
                    if self._signalled(_POLL_S if self.run_id else _POLL_S / 4):
                        self.interrupted = True
                    if self.interrupted:
                        self._interrupt(instance)
                    elif not self._stop.is_set():
                        self._report(instance)
                except Exception:  # a busy run database, say: look again shortly
                    self._stop.wait(0.2)
        finally:
            if instance is not self._instance:
                instance.dispose()

    def _signalled(self, timeout: float) -> bool:
        if self._pipe is None:  # not entered on the main thread: no signal to see
            self._stop.wait(timeout)
            return False
        ready, _, _ = select.select([self._pipe[0]], [], [], timeout)
        return bool(ready) and any(b in _STOP_SIGNALS for b in os.read(self._pipe[0], 512))

    def _find_run(self, instance: dg.DagsterInstance) -> str | None:
        with self._finding:  # both threads look; the run is announced once
            if self.run_id is None:
                runs = instance.get_runs(
                    filters=dg.RunsFilter(tags={INVOCATION_TAG: self._invocation}), limit=1
                )
                if runs:
                    self.run_id = runs[0].run_id
                    if self._on_run:
                        self._on_run(self.run_id)
        return self.run_id

    def _report(self, instance: dg.DagsterInstance) -> None:
        run_id = self._find_run(instance)
        waits = slot_waits(instance, run_id) if run_id else []
        now = time.monotonic()
        if not waits:
            if self._last_report is not None:
                self._say(f"got the slot after {now - self._waiting_since:.0f} s")
            self._waiting_since = self._last_report = None
            return
        self._waiting_since = self._waiting_since or now
        due = self._last_report is None or now - self._last_report >= WAIT_REPORT_S
        if due and now - self._waiting_since >= _POLL_S:
            for wait in waits:
                self._say(wait)
            self._last_report = now

    def _interrupt(self, instance: dg.DagsterInstance) -> None:
        run_id = self._find_run(instance)
        run = instance.get_run_by_id(run_id) if run_id else None
        if run is None or run.is_finished:
            self._stop.wait()  # not started: KeyboardInterrupt; finished: the main thread says
            return
        if run.status != dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceling(run, message="Ctrl-C in campaigns: canceling.")
        since = time.monotonic()
        while not self._stop.is_set():
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                self._stop.wait()  # Dagster ended it; the main thread says so
                return
            waited = time.monotonic() - since
            waiting = slot_waits(instance, run_id)
            if self._signalled(0.2) or waited > _GRACE_S or (waiting and waited > 0.5):
                self._end_process(instance, run_id, waiting)

    def _end_process(self, instance: dg.DagsterInstance, run_id: str, waits: list[str]) -> None:
        where = f" while {waits[0]}" if waits else ""
        outcome = "canceled, its pool slots freed"
        try:
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                instance.report_run_canceled(run, message="Canceled by Ctrl-C in campaigns.")
            if instance.event_log_storage.supports_global_concurrency_limits:
                instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        except Exception as error:  # the process ends whatever happens here
            outcome = (f"not recorded as canceled ({error}); the next campaigns command will "
                       "find its process gone and fail it")
        finally:
            self._say(f"campaigns: interrupted{where}: run {run_id} {outcome}")
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)  # the main thread sleeps in Dagster's wait for a slot


def _own_instance(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """An instance for this thread; the same one when it cannot be opened again."""
    try:
        return dg.DagsterInstance.from_ref(instance.get_ref())
    except Exception:  # an ephemeral instance has no ref; it has no pools either
        return instance
