"""``sms_runner_schedule``: every minute, a run of ``sms_runner_job`` unless one is still
going (a campaign of 100,000 messages at a throttle of 10 a second sends for hours: the next
minute's tick skips, saying which run is sending, rather than queueing runs behind it). The
run key is the minute, so a tick evaluated twice requests one run. Built inside
``@dg.definitions``: it starts running only where SMS state lives
(``Settings.ops_state_available``, the DuckDB warehouse), stopped with Oracle."""

import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE
from campaign_pipelines.defs.settings import read_settings
from campaign_pipelines.defs.sms.jobs import sms_runner_job

GOING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
         dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def runner_tick(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    going = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=sms_runner_job.name, statuses=GOING), limit=1)
    if going:
        return dg.SkipReason(f"run {going[0].run_id} of {sms_runner_job.name} is still going")
    at = context.scheduled_execution_time
    return dg.RunRequest(run_key=f"sms-runner@{at:%Y-%m-%dT%H:%M}")


def runner_schedule(running: bool) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="sms_runner_schedule",
        job=sms_runner_job,
        cron_schedule="* * * * *",
        execution_timezone=BANK_TIMEZONE,
        execution_fn=runner_tick,
        description="Every minute: starts the SMS campaigns whose start_at has come and sends "
        "the queued messages of the Active ones (sms_runner_job); skips while a run is going.",
        default_status=dg.DefaultScheduleStatus.RUNNING
        if running
        else dg.DefaultScheduleStatus.STOPPED,
    )


@dg.definitions
def sms_schedules() -> dg.Definitions:
    return dg.Definitions(schedules=[runner_schedule(read_settings().ops_state_available)])
