"""The campaign registry as the legacy list/get API showed it."""

from __future__ import annotations

from datetime import date

import polars as pl

from campaign_pipelines.core.deployment import campaign_status

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


def with_status(registry: pl.DataFrame, today: date) -> pl.DataFrame:
    """Deleted when deleted, else Scheduled, Active or Finished from the dates."""
    statuses = [
        "Deleted"
        if row["deleted_at"] is not None
        else campaign_status(row["date_start"], row["date_end"], today)
        for row in registry.select("deleted_at", "date_start", "date_end").iter_rows(named=True)
    ]
    return registry.with_columns(status=pl.Series(statuses, dtype=pl.String))


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
