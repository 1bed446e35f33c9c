"""Streaks: daily batch eligibility → NA-protected assignment → user state; manual moves.

The rules are in core/streaks; these assets load, call core, write and report.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.journey_config import ConfigServiceError
from campaign_pipelines.adapters.streak_store import StreakStoreError
from campaign_pipelines.core.streaks.config import ConfigError
from campaign_pipelines.core.streaks.daily import plan_day
from campaign_pipelines.core.streaks.eligibility import (
    batch_eligibility as eligible_users,
)
from campaign_pipelines.core.streaks.eligibility import (
    describe_eligibility,
    eligibility_counts,
)
from campaign_pipelines.core.streaks.engine import RunStamp, summarize
from campaign_pipelines.core.streaks.manual import AssignmentError, parse_assignments, plan_manual
from campaign_pipelines.defs.failures import fail
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    JourneyConfigResource,
    WarehouseResource,
    streak_store,
)

GROUP = "streaks"
USER_ACTIVITY = dg.AssetKey(["sources", "user_activity"])
BATCH_ELIGIBILITY = dg.AssetKey([GROUP, "batch_eligibility"])
ASSIGNMENTS = dg.AssetKey([GROUP, "assignments"])
MANUAL_ASSIGNMENTS = dg.AssetKey([GROUP, "manual_assignments"])
USER_STATE = dg.AssetKey([GROUP, "user_state"])

user_activity = dg.AssetSpec(
    USER_ACTIVITY, group_name=GROUP, kinds={"duckdb"},
    description="Daily user activity snapshot (columns: core/streaks/eligibility.py), loaded "
    "by the activity feed; `campaigns demo-data` generates one.",
)


def _config(journey_config: JourneyConfigResource, context: dg.AssetExecutionContext):
    try:
        config, warnings = journey_config.load()
    except ConfigError as error:
        raise fail(str(error), error.problems) from None
    except ConfigServiceError as error:
        raise dg.Failure(description=str(error)) from None  # transient: retries allowed
    for warning in warnings:
        context.log.warning(f"journey config: {warning.field}: {warning.problem}")
    return config


def _stamp(context: dg.AssetExecutionContext) -> RunStamp:
    return RunStamp(run_id=context.run.run_id, at=datetime.now(UTC))


@dg.asset(key=BATCH_ELIGIBILITY, deps=[USER_ACTIVITY], group_name=GROUP,
          kinds={"polars", "duckdb"})
def batch_eligibility(warehouse: WarehouseResource) -> dg.Output[pl.DataFrame]:
    """(user_id, campaign): the batch campaign each user qualifies for today (first match)."""
    try:
        activity = streak_store(warehouse).read_activity()
    except StreakStoreError as error:
        raise fail(str(error)) from None
    eligible = eligible_users(activity)
    return dg.Output(eligible, metadata={
        "dagster/row_count": eligible.height,
        "users_in_activity": activity.height,
        "eligible_per_campaign": dg.MetadataValue.json(eligibility_counts(eligible)),
        "predicates": dg.MetadataValue.json(describe_eligibility()),
    })


@dg.asset(key=ASSIGNMENTS, ins={"eligible": dg.AssetIn(BATCH_ELIGIBILITY)}, group_name=GROUP,
          kinds={"polars", "duckdb"}, pool="warehouse")
def assignments(
    context: dg.AssetExecutionContext,
    eligible: pl.DataFrame,
    warehouse: WarehouseResource,
    journey_config: JourneyConfigResource,
) -> dg.Output[pl.DataFrame]:
    """Today's completions, chain hops and batch assignments through the journey rules; the
    value is this run's audit rows (also appended to campaign_ops.streak_audit)."""
    config = _config(journey_config, context)  # the HTTP read happens before DuckDB opens
    store = streak_store(warehouse)
    try:
        activity = store.read_activity()
    except StreakStoreError as error:
        raise fail(str(error)) from None
    run = _stamp(context)
    day = store.update(lambda state: plan_day(state, activity, eligible, config, run))
    return dg.Output(day.audit, metadata={
        **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
           for k, v in day.summary.items()},
        "config_version": config.version,
        "dagster/row_count": day.audit.height,
    })


class ManualAssignmentConfig(dg.Config):
    file: str  # path of the user_id,streak CSV


@dg.asset(key=MANUAL_ASSIGNMENTS, group_name=GROUP, kinds={"polars", "duckdb"},
          pool="warehouse")
def manual_assignments(
    context: dg.AssetExecutionContext,
    config: ManualAssignmentConfig,
    warehouse: WarehouseResource,
    journey_config: JourneyConfigResource,
    campaign_data: CampaignDataResource,
) -> dg.Output[pl.DataFrame]:
    """Moves users by hand from a CSV (experiments: any streak → any streak). The file is
    applied whole or not at all; from landing/assignments it is archived or rejected."""
    path = Path(config.file)
    landing = campaign_data.landing()
    in_landing = path.parent.resolve() == landing.folder("assignments").resolve()
    if not path.is_file():
        raise fail(f"{path} does not exist (already processed? see archive/ and rejected/)")
    journey = _config(journey_config, context)
    run = _stamp(context)
    try:
        rows = parse_assignments(path.read_bytes(), path.name)
        decision = streak_store(warehouse).update(
            lambda state: plan_manual(state, rows, journey, run, path.name))
    except AssignmentError as error:
        if in_landing:
            landing.reject(path, {"problems": error.problems})
        raise fail(str(error), error.problems) from None
    if in_landing:
        landing.archive(path)
    summary = summarize(decision.audit)
    return dg.Output(decision.audit, metadata={
        "file": path.name,
        "rows": rows.height,
        "manual_moves": summary["manual_moves"],
        "blocked_per_campaign": dg.MetadataValue.json(summary["blocked_per_campaign"]),
        "dagster/row_count": decision.audit.height,
    })


@dg.asset(key=USER_STATE, deps=[ASSIGNMENTS, MANUAL_ASSIGNMENTS], group_name=GROUP,
          kinds={"polars", "duckdb"})
def user_state(warehouse: WarehouseResource) -> dg.Output[pl.DataFrame]:
    """campaign_ops.user_streak_state after the run: users per streak and status."""
    counts = streak_store(warehouse).state_counts()
    per_streak = counts.group_by("streak_type").agg(pl.col("users").sum()).sort("streak_type")
    return dg.Output(counts, metadata={
        "users": int(counts["users"].sum()) if counts.height else 0,
        "users_per_streak": dg.MetadataValue.json(dict(per_streak.iter_rows())),
        "dagster/row_count": counts.height,
    })
