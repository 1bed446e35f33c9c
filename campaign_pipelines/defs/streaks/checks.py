"""Checks on the streak state: the protection promise and the shape of the state table.

The config-dependent checks judge a materialization by the journey config it was built with:
the version (or document) its metadata recorded, never whatever the config service holds by the
time the check runs (``core.streaks.config.config_as_built``).
"""

import dagster as dg
import polars as pl

from campaign_pipelines.core.streaks.config import (
    NA,
    ConfigVersionUnknown,
    JourneyConfig,
    config_as_built,
)
from campaign_pipelines.core.streaks.simulate import experiment_users_moved_by_batch
from campaign_pipelines.defs.resources import JourneyConfigResource, WarehouseResource, streak_store
from campaign_pipelines.defs.streaks.assets import ASSIGNMENTS, USER_STATE

# Materialization metadata the streak assets record: the config version, and (when an asset
# records it) the config document itself.
CONFIG_VERSION = "config_version"
CONFIG_DOCUMENT = "journey_config"


def _recorded(instance: dg.DagsterInstance, key: dg.AssetKey) -> tuple[int | None, object]:
    """The config version and document ``key``'s latest materialization recorded, if any."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    metadata = materialization.metadata if materialization else {}
    version, document = metadata.get(CONFIG_VERSION), metadata.get(CONFIG_DOCUMENT)
    return (version.value if version else None), (document.value if document else None)


def _config_as_built(
    instance: dg.DagsterInstance, keys: list[dg.AssetKey], journey_config: JourneyConfigResource
) -> JourneyConfig:
    """The config the first of ``keys`` that recorded one was built with."""
    source, version, document = keys[0], None, None
    for key in keys:
        version, document = _recorded(instance, key)
        if version is not None or document is not None:
            source = key
            break
    return config_as_built(
        f"the latest {source.to_user_string()} materialization",
        version,
        document,
        lambda: journey_config.load()[0],
    )


def _unknown_config(error: ConfigVersionUnknown) -> dg.AssetCheckResult:
    (problem,) = error.problems
    return dg.AssetCheckResult(
        passed=False, metadata={"problem": problem["problem"], "fix": problem["fix"]}
    )


@dg.asset_check(asset=ASSIGNMENTS, blocking=True,
                description="The batch never took a user out of an experiment.")
def batch_never_moves_experiment_users(
    context: dg.AssetCheckExecutionContext,
    assignments: pl.DataFrame,
    journey_config: JourneyConfigResource,
) -> dg.AssetCheckResult:
    try:
        config = _config_as_built(context.instance, [ASSIGNMENTS], journey_config)
    except ConfigVersionUnknown as error:
        return _unknown_config(error)
    moved = experiment_users_moved_by_batch(assignments, config)
    return dg.AssetCheckResult(
        passed=moved == 0,
        metadata={"offending_rows": moved, CONFIG_VERSION: config.version},
    )


@dg.asset_check(asset=USER_STATE, blocking=True,
                description="campaign_ops.user_streak_state holds each user once, "
                "in one streak.")
def one_state_row_per_user(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    extra = streak_store(warehouse).extra_state_rows()
    return dg.AssetCheckResult(passed=extra == 0, metadata={"offending_rows": extra})


@dg.asset_check(asset=USER_STATE,
                description="Every streak in the state is NA or a campaign of the config the "
                "state was built with.")
def every_streak_is_known(
    context: dg.AssetCheckExecutionContext,
    user_state: pl.DataFrame,
    journey_config: JourneyConfigResource,
) -> dg.AssetCheckResult:
    # user_state records no config of its own yet: the assignments that built it did.
    try:
        config = _config_as_built(context.instance, [USER_STATE, ASSIGNMENTS], journey_config)
    except ConfigVersionUnknown as error:
        return _unknown_config(error)
    known = [NA, *config.campaign_names()]
    unknown = user_state.filter(~pl.col("streak_type").is_in(known))
    return dg.AssetCheckResult(
        passed=unknown.height == 0,
        metadata={"offending_rows": int(unknown["users"].sum()) if unknown.height else 0,
                  "unknown_streaks": dg.MetadataValue.json(unknown["streak_type"].to_list()),
                  CONFIG_VERSION: config.version},
    )
