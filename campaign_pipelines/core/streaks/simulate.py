"""What-if: today's day under a proposed config against the current one, nothing written.

The answer is a transition table (from streak → to streak, assigned/released/blocked) with
the count under each config and the difference, plus the one number that must stay zero:
users the batch would take out of an experiment.
"""

from __future__ import annotations

import polars as pl

from campaign_pipelines.core.streaks.config import JourneyConfig
from campaign_pipelines.core.streaks.daily import plan_day
from campaign_pipelines.core.streaks.engine import BLOCKED, RunStamp

_KEYS = ["from_streak", "to_streak", "action"]


def transitions(audit: pl.DataFrame) -> pl.DataFrame:
    return audit.group_by(_KEYS).agg(users=pl.len().cast(pl.Int64))


def experiment_users_moved_by_batch(audit: pl.DataFrame, config: JourneyConfig) -> int:
    return audit.filter(
        (pl.col("source") == "batch") & (pl.col("action") != BLOCKED)
        & pl.col("from_streak").is_in(config.experiments())
    ).height


def simulate(state: pl.DataFrame, activity: pl.DataFrame, eligible: pl.DataFrame,
             current: JourneyConfig, proposed: JourneyConfig,
             run: RunStamp) -> tuple[pl.DataFrame, dict[str, object]]:
    before = plan_day(state, activity, eligible, current, run)
    after = plan_day(state, activity, eligible, proposed, run)
    table = (
        transitions(before.audit).rename({"users": "current"})
        .join(transitions(after.audit).rename({"users": "proposed"}), on=_KEYS,
              how="full", coalesce=True)
        .with_columns(pl.col("current", "proposed").fill_null(0))
        .with_columns(delta=pl.col("proposed") - pl.col("current"))
        .sort([pl.col("delta").abs(), *_KEYS], descending=[True, False, False, False])
    )
    summary = {
        "current_version": current.version,
        "proposed_version": proposed.version,
        "moved": {"current": _moved(before.audit), "proposed": _moved(after.audit)},
        "blocked": {"current": _blocked(before.audit), "proposed": _blocked(after.audit)},
        "experiment_users_moved_by_batch": {
            "current": experiment_users_moved_by_batch(before.audit, current),
            "proposed": experiment_users_moved_by_batch(after.audit, proposed),
        },
    }
    return table, summary


def _moved(audit: pl.DataFrame) -> int:
    return audit.filter(pl.col("action") != BLOCKED).height


def _blocked(audit: pl.DataFrame) -> int:
    return audit.filter(pl.col("action") == BLOCKED).height
