"""A command's run of a campaign waits while another run of the same campaign is going: two
runs of one partition would overwrite each other's stored steps."""

import threading
import time

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from campaign_pipelines import runs


def test_a_run_of_the_same_campaign_is_waited_for_and_named(instance):
    other = create_run_for_test(instance, job_name="campaign_job",
                                status=dg.DagsterRunStatus.STARTED,
                                tags={"dagster/partition": "promo"})
    create_run_for_test(instance, job_name="campaign_job", status=dg.DagsterRunStatus.STARTED,
                        tags={"dagster/partition": "summer"})  # another campaign: no wait
    said = []
    ends = threading.Timer(1.5, lambda: instance.report_run_canceled(other))
    ends.start()
    started = time.monotonic()

    runs.wait_for_partition(instance, "promo", said.append, poll_s=0.05)

    assert time.monotonic() - started >= 1.4
    assert len(said) == 1 and said[0].startswith(f"waiting for run {other.run_id} (campaign_job")
    assert "two runs of campaign promo at once" in said[0]


def test_no_run_of_the_campaign_going_means_no_wait(instance):
    create_run_for_test(instance, job_name="campaign_job", status=dg.DagsterRunStatus.SUCCESS,
                        tags={"dagster/partition": "promo"})
    said = []
    runs.wait_for_partition(instance, "promo", said.append, poll_s=0.05)
    assert said == []
