import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE
from campaign_pipelines.defs.reference.jobs import reference_refresh_job

reference_refresh_schedule = dg.ScheduleDefinition(
    name="reference_refresh_schedule",
    job=reference_refresh_job,
    cron_schedule="0 5 * * *",
    execution_timezone=BANK_TIMEZONE,
    description="Refreshes blacklists, devices, push preferences, MAU and products at 05:00, "
    "before the working day's campaigns are built.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
