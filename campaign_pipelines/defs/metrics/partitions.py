"""The metrics domain's calendar: one partition per Almaty day (the bank's calendar, as the
schedules keep it), from the first day this project rolls up."""

import dagster as dg

from campaign_pipelines.core.registry import BANK_TIMEZONE

KPI_START = "2026-01-01"
kpi_days = dg.DailyPartitionsDefinition(start_date=KPI_START, timezone=BANK_TIMEZONE)
