"""``python -m campaign_pipelines.demo.report_activity``: what the bank's activity feed does
after each load, done for the demo's.

``sources/user_activity`` is an external asset (an ``AssetSpec``): no run of this code location
materializes it, the feed that loads the table does. In the demo that feed is
``campaigns demo-data``; `make demo` runs this module right after it, so that the instance
records the load (rows, activity dates) as a runless materialization and the UI shows when the
streaks' input last changed, as it will for the real feed (which reports through Dagster's
REST endpoint ``/report_asset_materialization/``).
"""

from __future__ import annotations

from pathlib import Path

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse

USER_ACTIVITY_TABLE = "sources.user_activity"


def activity_summary(database: str) -> dict[str, object]:
    """Rows and the activity dates of ``sources.user_activity``, read through the warehouse
    adapter (which waits out another process's lock on the file, as every reader does)."""
    rows, first, last = DuckDBWarehouse(Path(database)).fetch(
        f"SELECT COUNT(*), MIN(activity_date), MAX(activity_date) FROM {USER_ACTIVITY_TABLE}"  # noqa: S608
    ).row(0)
    return {"dagster/row_count": int(rows), "first_activity_date": str(first),
            "last_activity_date": str(last)}


def main() -> int:
    import dagster as dg

    from campaign_pipelines.defs.settings import read_settings
    from campaign_pipelines.defs.streaks.assets import USER_ACTIVITY
    from campaign_pipelines.service import open_location

    settings = read_settings()
    summary = activity_summary(str(settings.database))
    location = open_location(settings)
    location.instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=USER_ACTIVITY,
        description="loaded by campaigns demo-data (the demo's activity feed)",
        metadata=summary,
    ))
    print(f"{USER_ACTIVITY.to_user_string()} reported to Dagster: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
