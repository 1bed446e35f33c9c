"""going_run: which runs still have work ahead, on a real (temporary) instance."""

import dagster as dg
import pytest

from campaign_pipelines.defs.run_states import UNFINISHED, going_run

JOB = "send_due_emails_job"
Status = dg.DagsterRunStatus


def _add(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, job: str = JOB,
         **tags: str) -> str:
    run = dg.DagsterRun(job_name=job, status=status, tags=tags)
    instance.add_run(run)
    return run.run_id


def test_queued_counts_as_unfinished():
    # A QUEUED run cannot be stored without the remote origin a daemon gives it; the status
    # list the query filters on is what decides.
    assert Status.QUEUED in UNFINISHED


@pytest.mark.parametrize("status", [Status.NOT_STARTED, Status.STARTING, Status.STARTED,
                                    Status.CANCELING])
def test_an_unfinished_run_is_going(status):
    with dg.instance_for_test() as instance:
        _add(instance, Status.SUCCESS)
        going = _add(instance, status)
        assert going_run(instance, JOB).run_id == going


def test_ended_runs_and_other_jobs_are_not_going():
    with dg.instance_for_test() as instance:
        for status in (Status.SUCCESS, Status.FAILURE, Status.CANCELED):
            _add(instance, status)
        _add(instance, Status.STARTED, job="another_job")
        assert going_run(instance, JOB) is None


def test_a_failed_run_whose_retry_is_still_to_come_is_going_until_its_retry_is_launched():
    with dg.instance_for_test() as instance:
        failed = _add(instance, Status.FAILURE, **{"dagster/will_retry": "true"})
        assert going_run(instance, JOB).run_id == failed
        instance.add_run_tags(failed, {"dagster/auto_retry_run_id": "the-retry"})
        assert going_run(instance, JOB) is None
