import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE
from campaign_pipelines.defs.resources import streak_state_available
from campaign_pipelines.defs.streaks.jobs import streaks_daily_job

streaks_daily_schedule = dg.ScheduleDefinition(
    name="streaks_daily_schedule",
    job=streaks_daily_job,
    cron_schedule="0 6 * * *",
    execution_timezone=BANK_TIMEZONE,
    description="Assigns users to streak campaigns at 06:00, after the 05:00 reference refresh "
    "and the nightly activity load, before the day's pushes go out.",
    default_status=dg.DefaultScheduleStatus.RUNNING
    if streak_state_available()
    else dg.DefaultScheduleStatus.STOPPED,
)
