"""``metrics_daily_schedule``: at 06:30 Almaty, the run of yesterday's ``metrics/daily_kpis``
partition. Half an hour after the 06:00 streak run, so the two writers of the DuckDB file do
not queue behind each other; long before the 09:00 freshness deadline. The run key is the day,
so a tick evaluated twice requests one run. Earlier days (a missed tick, a late receipt) are
backfills: from the UI or ``campaigns metrics backfill --from D --to D``."""

from datetime import timedelta

import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE, bank_date
from campaign_pipelines.defs.metrics.jobs import metrics_daily_job, metrics_freshness_job


def yesterday_run(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = bank_date(context.scheduled_execution_time)
    day = (today - timedelta(days=1)).isoformat()
    return dg.RunRequest(run_key=f"kpi-daily@{day}", partition_key=day)


metrics_daily_schedule = dg.ScheduleDefinition(
    name="metrics_daily_schedule",
    job=metrics_daily_job,
    cron_schedule="30 6 * * *",
    execution_timezone=BANK_TIMEZONE,
    execution_fn=yesterday_run,
    description="Rolls up yesterday (an Almaty day) into campaign_ops.kpi_daily at 06:30, "
    "after the 06:00 streak run and before the 09:00 freshness deadline.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

metrics_freshness_schedule = dg.ScheduleDefinition(
    name="metrics_freshness_schedule",
    job=metrics_freshness_job,
    cron_schedule="0 9 * * *",
    execution_timezone=BANK_TIMEZONE,
    description="At 09:00 Almaty, checks that yesterday's metrics/daily_kpis partition is "
    "there (check yesterday_rolled_up: a warning when it is not).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
