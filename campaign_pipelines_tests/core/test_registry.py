"""Campaign status from the dates, in the bank's calendar."""

from datetime import UTC, date, datetime

import polars as pl

from campaign_pipelines.core.registry import bank_date, with_status


def test_status_follows_the_dates_and_deletion():
    registry = pl.DataFrame({
        "date_start": [date(2026, 12, 1), date(2026, 11, 1), date(2026, 11, 1), date(2026, 10, 1),
                       date(2026, 11, 1)],
        "date_end": [date(2026, 12, 31), date(2026, 11, 28), date(2026, 11, 30),
                     date(2026, 10, 31), date(2026, 11, 30)],
        "deleted_at": [None, None, None, None, datetime(2026, 11, 2)],
    })
    statuses = with_status(registry, date(2026, 11, 28))["status"].to_list()
    assert statuses == ["Scheduled", "Active", "Active", "Finished", "Deleted"]


def test_the_bank_date_is_almatys_not_utcs():
    assert bank_date(datetime(2026, 11, 28, 20, 30, tzinfo=UTC)) == date(2026, 11, 29)  # +05:00
    assert bank_date(datetime(2026, 11, 28, 18, 59, tzinfo=UTC)) == date(2026, 11, 28)
