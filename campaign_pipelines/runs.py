"""Runs that `campaigns` executes in its own process: a later command can tell when their
process is gone, a run waiting for a pool slot says what it waits for, and Ctrl-C stops it.

Dagster frees a step's pool slot when the step ends. A process killed in the middle of a step
(kill -9, the OOM killer, a closed laptop) never ends it: its run stays STARTED, its slot stays
claimed, and with the pool ``warehouse`` at one slot every later deploy waits forever. Runs the
daemon launches are watched by Dagster's run monitoring (``run_monitoring`` in dagster.yaml).
Runs the command executes in process have no launcher watching them, so they carry where they
run (``process_tags``), and before running a job the command fails every run of this host
whose process is gone and frees its slots (``reap_dead_runs``).

A command's run also waits while another run of the same campaign is going
(``wait_for_partition``); ``run_watch.RunWatch`` reports slot waits and handles Ctrl-C.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime

import dagster as dg

from campaign_pipelines.adapters import processes

HOST_TAG, PID_TAG, PID_START_TAG = "campaigns/host", "campaigns/pid", "campaigns/pid_start"
INVOCATION_TAG = "campaigns/invocation"
WAIT_REPORT_S = 10.0
POLL_S = 1.0
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

Say = Callable[[str], None]


def say_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def process_tags(invocation: str) -> dict[str, str]:
    """Where this process runs, and which of its executions the run is."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), INVOCATION_TAG: invocation}
    if started := processes.process_start(os.getpid()):
        tags[PID_START_TAG] = started
    return tags


def process_gone(tags: dict[str, str]) -> bool:
    """Whether the process that executed a run tagged by ``process_tags`` no longer exists."""
    return processes.process_gone(int(tags[PID_TAG]), tags.get(PID_START_TAG))


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


_GOING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def wait_for_partition(
    instance: dg.DagsterInstance, partition_key: str, say: Say, poll_s: float = POLL_S
) -> None:
    """Returns once no other run of ``partition_key`` is going, saying every ``WAIT_REPORT_S``
    which run it waits for. Two runs of one campaign would overwrite each other's stored steps
    (the Parquet files of its partition); the daemon's queue keeps its own runs apart
    (dagster.yaml), and this keeps a command's run apart from them. A run whose process died
    is reaped before this is called (``reap_dead_runs``); Ctrl-C ends the wait."""
    reported = 0.0
    while True:
        going = instance.get_runs(
            filters=dg.RunsFilter(statuses=_GOING, tags={"dagster/partition": partition_key}),
            limit=1,
        )
        if not going:
            return
        if time.monotonic() - reported >= WAIT_REPORT_S:
            other = going[0].run_id
            say(f"waiting for run {other} ({describe_run(instance, other)}) to finish: two runs "
                f"of campaign {partition_key} at once would overwrite each other's steps")
            reported = time.monotonic()
        time.sleep(poll_s)


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
