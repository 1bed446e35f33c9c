"""The campaign registry as the legacy list/get API showed it."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

# The bank's calendar: campaign dates, daily schedules and "today" are Almaty dates.
BANK_TIMEZONE = "Asia/Almaty"

LISTED = (
    "campaign_code",
    "campaign_type",
    "campaign_name",
    "stream",
    "channel",
    "date_start",
    "date_end",
    "user_count",
    "created_at",
    "status",
)


def bank_date(moment: datetime) -> date:
    """The date in the bank's time zone at ``moment`` (an aware datetime): at 02:00 in Almaty
    it is already tomorrow while UTC still says today."""
    return moment.astimezone(ZoneInfo(BANK_TIMEZONE)).date()


def with_status(registry: pl.DataFrame, today: date) -> pl.DataFrame:
    """Deleted when deleted, else Scheduled before date_start, Active through date_end,
    Finished after."""
    status = (
        pl.when(pl.col("deleted_at").is_not_null()).then(pl.lit("Deleted"))
        .when(pl.lit(today) < pl.col("date_start")).then(pl.lit("Scheduled"))
        .when(pl.lit(today) <= pl.col("date_end")).then(pl.lit("Active"))
        .otherwise(pl.lit("Finished"))
    )
    return registry.with_columns(status=status)


def campaign_list(
    registry: pl.DataFrame,
    today: date,
    *,
    campaign_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
    include_deleted: bool = False,
) -> dict:
    listed = with_status(registry, today)
    if not include_deleted:
        listed = listed.filter(pl.col("status") != "Deleted")
    counts = dict(listed.group_by("campaign_type").len().iter_rows())
    if campaign_type:
        listed = listed.filter(pl.col("campaign_type") == campaign_type)
    page = listed.sort(["created_at", "campaign_code"], descending=True).slice(offset, limit)
    return {
        "campaigns": page.select(LISTED).to_dicts(),
        "total_count": listed.height,
        "rb1_count": counts.get("RB1", 0),
        "rb3_count": counts.get("RB3", 0),
    }


def campaign_details(registry: pl.DataFrame, code: str, today: date) -> dict | None:
    found = with_status(registry.filter(pl.col("campaign_code") == code), today)
    return found.to_dicts()[0] if found.height else None
