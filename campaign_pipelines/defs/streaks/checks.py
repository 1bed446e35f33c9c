"""Checks on the streak state: the protection promise and the shape of the state table."""

import dagster as dg
import polars as pl

from campaign_pipelines.core.streaks.config import NA
from campaign_pipelines.core.streaks.simulate import experiment_users_moved_by_batch
from campaign_pipelines.defs.resources import JourneyConfigResource, WarehouseResource, streak_store
from campaign_pipelines.defs.streaks.assets import ASSIGNMENTS, USER_STATE


@dg.asset_check(asset=ASSIGNMENTS, blocking=True,
                description="The batch never took a user out of an experiment.")
def batch_never_moves_experiment_users(
    assignments: pl.DataFrame, journey_config: JourneyConfigResource
) -> dg.AssetCheckResult:
    config, _ = journey_config.load()
    moved = experiment_users_moved_by_batch(assignments, config)
    return dg.AssetCheckResult(passed=moved == 0, metadata={"offending_rows": moved})


@dg.asset_check(asset=USER_STATE, blocking=True,
                description="campaign_ops.user_streak_state holds each user once, "
                "in one streak.")
def one_state_row_per_user(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    extra = streak_store(warehouse).extra_state_rows()
    return dg.AssetCheckResult(passed=extra == 0, metadata={"offending_rows": extra})


@dg.asset_check(asset=USER_STATE,
                description="Every streak in the state is NA or a campaign of the config.")
def every_streak_is_known(
    user_state: pl.DataFrame, journey_config: JourneyConfigResource
) -> dg.AssetCheckResult:
    config, _ = journey_config.load()
    known = [NA, *config.campaign_names()]
    unknown = user_state.filter(~pl.col("streak_type").is_in(known))
    return dg.AssetCheckResult(
        passed=unknown.height == 0,
        metadata={"offending_rows": int(unknown["users"].sum()) if unknown.height else 0,
                  "unknown_streaks": dg.MetadataValue.json(unknown["streak_type"].to_list())},
    )
