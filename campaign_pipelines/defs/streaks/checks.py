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
from campaign_pipelines.defs.streaks.assets import ASSIGNMENTS, MANUAL_ASSIGNMENTS, USER_STATE

# Materialization metadata the streak assets record: the config version, and (when an asset
# records it) the config document itself.
CONFIG_VERSION = "config_version"
CONFIG_DOCUMENT = "journey_config"


def _recorded(event: dg.EventLogEntry | None) -> tuple[int | None, object]:
    """The config version and document a materialization event recorded, if any."""
    materialization = event.asset_materialization if event else None
    metadata = materialization.metadata if materialization else {}
    version, document = metadata.get(CONFIG_VERSION), metadata.get(CONFIG_DOCUMENT)
    return (version.value if version else None), (document.value if document else None)


def _config_as_built(
    instance: dg.DagsterInstance,
    checked: dg.AssetKey,
    journey_config: JourneyConfigResource,
    built_by: tuple[dg.AssetKey, ...] = (),
) -> JourneyConfig:
    """The config ``checked``'s latest materialization was built with: what it recorded, else
    what the asset of ``built_by`` materialized in the same run recorded."""
    event = instance.get_latest_materialization_event(checked)
    source, (version, document) = checked, _recorded(event)
    if event is not None and version is None and document is None:
        for upstream in built_by:
            upstream_event = instance.get_latest_materialization_event(upstream)
            if upstream_event is not None and upstream_event.run_id == event.run_id:
                source, (version, document) = upstream, _recorded(upstream_event)
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
                description="The daily batch moved nobody out of an experiment streak of the "
                "journey config it ran with (manual moves may). A failure means the journey "
                "rules broke the protection promise: the moves are already in the state and "
                "in streak_audit (offending_rows counts them), the run stops before user_state; "
                "it also fails when the config version the batch recorded cannot be loaded.")
def batch_never_moves_experiment_users(
    context: dg.AssetCheckExecutionContext,
    assignments: pl.DataFrame,
    journey_config: JourneyConfigResource,
) -> dg.AssetCheckResult:
    try:
        config = _config_as_built(context.instance, ASSIGNMENTS, journey_config)
    except ConfigVersionUnknown as error:
        return _unknown_config(error)
    moved = experiment_users_moved_by_batch(assignments, config)
    return dg.AssetCheckResult(
        passed=moved == 0,
        metadata={"offending_rows": moved, CONFIG_VERSION: config.version},
    )


@dg.asset_check(asset=USER_STATE, blocking=True,
                description="campaign_ops.user_streak_state holds each user once, in one "
                "streak. A failure means something wrote a user twice (offending_rows counts "
                "the extra rows), so which streak they are in is ambiguous: repair the table "
                "before the next run assigns from it.")
def one_state_row_per_user(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    extra = streak_store(warehouse).extra_state_rows()
    return dg.AssetCheckResult(passed=extra == 0, metadata={"offending_rows": extra})


@dg.asset_check(asset=USER_STATE,
                description="Every streak in the state is NA or a campaign of the journey "
                "config the state was built with. A failure (not blocking: nothing stops) "
                "means users sit in streaks that config does not know, e.g. a campaign removed "
                "while users were in it (unknown_streaks lists them); it also fails when the "
                "config version the run recorded cannot be loaded.")
def every_streak_is_known(
    context: dg.AssetCheckExecutionContext,
    user_state: pl.DataFrame,
    journey_config: JourneyConfigResource,
) -> dg.AssetCheckResult:
    # user_state reads no config itself: the assignments of its run (daily or manual) did.
    try:
        config = _config_as_built(context.instance, USER_STATE, journey_config,
                                  built_by=(ASSIGNMENTS, MANUAL_ASSIGNMENTS))
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
