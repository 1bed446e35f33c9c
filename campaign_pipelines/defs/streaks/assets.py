"""Streaks: daily batch eligibility → NA-protected assignment → user state; manual moves.

The rules are in core/streaks; these assets load, call core, write and report.

Every asset here reads or writes the warehouse (and two read the journey-config service), so
each carries ``WAREHOUSE_RETRY``, the one retry layer (``defs/retries.py``): a transient error
(the config service down, a DuckDB write conflict) propagates and the policy runs the step
again; a permanent one (a bad config, a bad file, the lock still held after its budget) fails
at once with ``allow_retries=False``.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.journey_config import (
    ConfigServiceError,
    JourneyConfigUnavailable,
)
from campaign_pipelines.adapters.storage import same_place, storage_path
from campaign_pipelines.adapters.streak_store import STATE_TABLE, StreakStoreError
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
from campaign_pipelines.defs.failures import fail, warehouse_work
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    JourneyConfigResource,
    WarehouseResource,
    streak_store,
)
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY

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
    except JourneyConfigUnavailable as error:
        raise dg.Failure(description=str(error)) from None  # transient: WAREHOUSE_RETRY retries
    except ConfigServiceError as error:
        raise fail(str(error)) from None  # refused or not JSON: the same on every attempt
    for warning in warnings:
        context.log.warning(f"journey config: {warning.field}: {warning.problem}")
    return config


def _stamp(context: dg.AssetExecutionContext) -> RunStamp:
    return RunStamp(run_id=context.run.run_id, at=datetime.now(UTC))


def _activity(warehouse: WarehouseResource) -> pl.DataFrame:
    def read() -> pl.DataFrame:
        try:
            return streak_store(warehouse).read_activity()
        except StreakStoreError as error:
            raise fail(str(error)) from None

    return warehouse_work("sources.user_activity", read)


@dg.asset(key=BATCH_ELIGIBILITY, deps=[USER_ACTIVITY], group_name=GROUP,
          kinds={"polars", "duckdb"}, retry_policy=WAREHOUSE_RETRY)
def batch_eligibility(warehouse: WarehouseResource) -> dg.Output[pl.DataFrame]:
    """(user_id, campaign): the batch campaign each user qualifies for today (first match)."""
    activity = _activity(warehouse)
    eligible = eligible_users(activity)
    return dg.Output(eligible, metadata={
        "dagster/row_count": eligible.height,
        "users_in_activity": activity.height,
        "eligible_per_campaign": dg.MetadataValue.json(eligibility_counts(eligible)),
        "predicates": dg.MetadataValue.json(describe_eligibility()),
    })


@dg.asset(key=ASSIGNMENTS, ins={"eligible": dg.AssetIn(BATCH_ELIGIBILITY)}, group_name=GROUP,
          kinds={"polars", "duckdb"}, pool="warehouse", retry_policy=WAREHOUSE_RETRY)
def assignments(
    context: dg.AssetExecutionContext,
    eligible: pl.DataFrame,
    warehouse: WarehouseResource,
    journey_config: JourneyConfigResource,
) -> dg.Output[pl.DataFrame]:
    """Today's completions, chain hops and batch assignments through the journey rules; the
    value is this run's audit rows (also appended to campaign_ops.streak_audit)."""
    config = _config(journey_config, context)  # the HTTP read happens before DuckDB opens
    activity = _activity(warehouse)
    run = _stamp(context)
    day = warehouse_work(STATE_TABLE, lambda: streak_store(warehouse).update(
        lambda state: plan_day(state, activity, eligible, config, run)))
    return dg.Output(day.audit, metadata={
        **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
           for k, v in day.summary.items()},
        "config_version": config.version,
        "dagster/row_count": day.audit.height,
    })


class ManualAssignmentConfig(dg.Config):
    file: str  # path of the user_id,streak CSV


@dg.asset(key=MANUAL_ASSIGNMENTS, group_name=GROUP, kinds={"polars", "duckdb"},
          pool="warehouse", retry_policy=WAREHOUSE_RETRY)
def manual_assignments(
    context: dg.AssetExecutionContext,
    config: ManualAssignmentConfig,
    warehouse: WarehouseResource,
    journey_config: JourneyConfigResource,
    campaign_data: CampaignDataResource,
) -> dg.Output[pl.DataFrame]:
    """Moves users by hand from a CSV (experiments: any streak → any streak). The file is
    applied whole or not at all; from landing/assignments it is archived or rejected."""
    path = storage_path(config.file)
    landing = campaign_data.landing()
    in_landing = same_place(path.parent, landing.folder("assignments"))
    if not path.is_file():
        raise fail(f"{path} does not exist (already processed? see archive/ and rejected/)")
    journey = _config(journey_config, context)
    run = _stamp(context)
    rows = _parsed(path, landing if in_landing else None)

    def apply():
        try:
            return streak_store(warehouse).update(
                lambda state: plan_manual(state, rows, journey, run, path.name))
        except AssignmentError as error:
            if in_landing:
                landing.reject(path, {"problems": error.problems})
            raise fail(str(error), error.problems) from None

    decision = warehouse_work(STATE_TABLE, apply)
    if in_landing:
        landing.archive(path)
    summary = summarize(decision.audit)
    return dg.Output(decision.audit, metadata={
        "file": path.name,
        "rows": rows.height,
        "config_version": journey.version,
        "manual_moves": summary["manual_moves"],
        "blocked_per_campaign": dg.MetadataValue.json(summary["blocked_per_campaign"]),
        "dagster/row_count": decision.audit.height,
    })


def _parsed(path: Path, landing) -> pl.DataFrame:
    """The file's rows; a malformed file is refused (and rejected when it came from landing)."""
    try:
        return parse_assignments(path.read_bytes(), path.name)
    except AssignmentError as error:
        if landing is not None:
            landing.reject(path, {"problems": error.problems})
        raise fail(str(error), error.problems) from None


@dg.asset(key=USER_STATE, deps=[ASSIGNMENTS, MANUAL_ASSIGNMENTS], group_name=GROUP,
          kinds={"polars", "duckdb"}, retry_policy=WAREHOUSE_RETRY)
def user_state(warehouse: WarehouseResource) -> dg.Output[pl.DataFrame]:
    """campaign_ops.user_streak_state after the run: users per streak and status."""
    counts = warehouse_work(STATE_TABLE, lambda: streak_store(warehouse).state_counts())
    per_streak = counts.group_by("streak_type").agg(pl.col("users").sum()).sort("streak_type")
    return dg.Output(counts, metadata={
        "users": int(counts["users"].sum()) if counts.height else 0,
        "users_per_streak": dg.MetadataValue.json(dict(per_streak.iter_rows())),
        "dagster/row_count": counts.height,
    })
