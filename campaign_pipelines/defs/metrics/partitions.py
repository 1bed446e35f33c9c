"""The metrics domain's calendar: one partition per Almaty day (the bank's calendar, as the
schedules keep it), from the first day this project rolls up, through today.

Today's partition exists (``end_offset=1``) so that a day can be rolled up while it runs (the
demo, an analyst at noon); its rows are "so far" until the 06:30 schedule rolls the finished
day up again the next morning and replaces them, as any re-run of a day does."""

import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE

KPI_START = "2026-01-01"
kpi_days = dg.DailyPartitionsDefinition(start_date=KPI_START, timezone=BANK_TIMEZONE,
                                        end_offset=1)
