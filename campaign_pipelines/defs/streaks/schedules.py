"""The daily streak schedule, built inside ``@dg.definitions`` so whether it starts running
(only where streak state lives: ``Settings.ops_state_available``) is read from the settings
when the definitions load, never at import."""

import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE
from campaign_pipelines.defs.settings import read_settings
from campaign_pipelines.defs.streaks.jobs import streaks_daily_job


def daily_schedule(running: bool) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="streaks_daily_schedule",
        job=streaks_daily_job,
        cron_schedule="0 6 * * *",
        execution_timezone=BANK_TIMEZONE,
        description="Assigns users to streak campaigns at 06:00, after the 05:00 reference "
        "refresh and the nightly activity load, before the day's pushes go out.",
        default_status=dg.DefaultScheduleStatus.RUNNING
        if running
        else dg.DefaultScheduleStatus.STOPPED,
    )


@dg.definitions
def streak_schedules() -> dg.Definitions:
    return dg.Definitions(schedules=[daily_schedule(read_settings().ops_state_available)])
