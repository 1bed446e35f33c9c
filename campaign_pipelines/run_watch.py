"""Ctrl-C and slot waits of a run that `campaigns` executes in its own process.

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
import sys
import threading
import time
from collections.abc import Callable

import dagster as dg

from campaign_pipelines.runs import INVOCATION_TAG, POLL_S, WAIT_REPORT_S, Say, slot_waits

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
# For Dagster to end an interrupted step itself. A step can swallow the interrupt (DuckDB turns
# it into an InterruptException, which a retry policy then retries), so it is not waited for.
_GRACE_S = 3.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}  # Dagster maps SIGTERM to SIGINT during a run
_ENDED = {
    dg.DagsterRunStatus.CANCELED: "canceled",
    dg.DagsterRunStatus.FAILURE: "failed",
    dg.DagsterRunStatus.SUCCESS: "had succeeded already",
}

class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the run; the message names it and says what became of it."""



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
                    if self._signalled(POLL_S if self.run_id else POLL_S / 4):
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
        if due and now - self._waiting_since >= POLL_S:
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
            # The main thread may have finished the run as the signal came: say what it is.
            status = instance.get_run_by_id(run_id).status
            if status != dg.DagsterRunStatus.CANCELED:
                outcome = f"{_ENDED.get(status, status.value.lower())}, its pool slots freed"
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
