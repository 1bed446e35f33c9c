"""Whether a run still has work ahead of it: queued, starting, going or canceling, or ended with
a retry of it to come (``dagster/will_retry`` set and no retry launched yet). Every sensor and
schedule that must not start a second run beside a going one asks this one question."""

import dagster as dg

ENDED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
UNFINISHED = [status for status in dg.DagsterRunStatus if status not in ENDED]


def still_going(run: dg.DagsterRun) -> bool:
    return not run.is_finished or run.is_complete_and_waiting_to_retry


def going_run(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun | None:
    """The newest run of ``job_name`` that still has work ahead, if any: an unfinished one, or
    the newest failed one when its retry is still to come (two queries of one row each)."""
    unfinished = instance.get_runs(dg.RunsFilter(job_name=job_name, statuses=UNFINISHED), limit=1)
    if unfinished:
        return unfinished[0]
    failed = instance.get_runs(
        dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.FAILURE]), limit=1)
    return failed[0] if failed and still_going(failed[0]) else None
