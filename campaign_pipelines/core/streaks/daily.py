"""One day of the streak journey: new users, completions, chain hops and batch assignment.

Order, and why:
1. users seen in the activity but not in the state join on "NA" (status ``none``);
2. a user whose ``completed_streak_type`` (activity) is their active streak becomes
   ``completed``;
3. pending requests, at most one per user, in priority order: a chain hop (a completed user's
   ``next_eligible_streak_type``) before an assignment already stored in the state before the
   batch's own eligibility, so a journey in progress is never cut by the batch;
4. the rule engine decides (NA protection lives in the rules, not here).
A chain hop is tried once: if the rules refuse it, ``next_eligible_streak_type`` is cleared and
the refusal is in the audit, so the same hop is not refused again every day.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from campaign_pipelines.core.streaks.config import NA, JourneyConfig
from campaign_pipelines.core.streaks.engine import (
    ACTIVE,
    BLOCKED,
    COMPLETED,
    NONE,
    REQUEST_SCHEMA,
    STATE_SCHEMA,
    TIMESTAMP,
    RunStamp,
    decide,
    summarize,
)


@dataclass(frozen=True)
class DayResult:
    updates: pl.DataFrame  # STATE_SCHEMA rows to upsert
    audit: pl.DataFrame
    summary: dict[str, object]


def plan_day(state: pl.DataFrame, activity: pl.DataFrame, eligible: pl.DataFrame,
             config: JourneyConfig, run: RunStamp) -> DayResult:
    joined = new_users(state, activity, run)
    working = pl.concat([state, joined]) if joined.height else state
    working, completed = mark_completed(working, activity, run)
    requests = combine(chain_requests(working), stored_requests(working),
                       batch_requests(working, eligible))
    decision = decide(working, requests, config, run)
    refused_hops = decision.audit.filter(
        (pl.col("source") == "chain") & (pl.col("action") == BLOCKED)
    ).select("user_id")
    consumed = (working.join(refused_hops, on="user_id", how="semi")
                .join(decision.updates, on="user_id", how="anti")
                .with_columns(next_eligible_streak_type=pl.lit(None, dtype=pl.String),
                              updated_at=pl.lit(run.at, dtype=TIMESTAMP)))
    decided = pl.concat([decision.updates, consumed])
    earlier = pl.concat([joined, completed]).unique("user_id", keep="last", maintain_order=True)
    updates = pl.concat([earlier.join(decided, on="user_id", how="anti"), decided])
    summary = {**summarize(decision.audit), "new_users": joined.height,
               "completed_today": completed.height, "state_rows_written": updates.height}
    return DayResult(updates=updates, audit=decision.audit, summary=summary)


def new_users(state: pl.DataFrame, activity: pl.DataFrame, run: RunStamp) -> pl.DataFrame:
    return (
        activity.select("user_id").unique()
        .join(state.select("user_id"), on="user_id", how="anti")
        .sort("user_id")
        .with_columns(
            streak_type=pl.lit(NA),
            assign_next_streak_type=pl.lit(None, dtype=pl.String),
            next_eligible_streak_type=pl.lit(None, dtype=pl.String),
            streak_status=pl.lit(NONE),
            updated_at=pl.lit(run.at, dtype=TIMESTAMP),
        )
        .cast(STATE_SCHEMA)
    )


def mark_completed(state: pl.DataFrame, activity: pl.DataFrame,
                   run: RunStamp) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(state with completions applied, the rows that changed)."""
    done = activity.filter(pl.col("completed_streak_type").is_not_null()).select(
        "user_id", "completed_streak_type").unique("user_id", keep="last")
    changed = (
        state.join(done, on="user_id", how="inner")
        .filter((pl.col("streak_status") == ACTIVE)
                & (pl.col("streak_type") == pl.col("completed_streak_type")))
        .drop("completed_streak_type")
        .with_columns(streak_status=pl.lit(COMPLETED),
                      updated_at=pl.lit(run.at, dtype=TIMESTAMP))
    )
    if changed.height == 0:
        return state, changed
    return state.update(changed, on="user_id"), changed


def chain_requests(state: pl.DataFrame) -> pl.DataFrame:
    return state.filter(
        (pl.col("streak_status") == COMPLETED) & pl.col("next_eligible_streak_type").is_not_null()
    ).select("user_id", target="next_eligible_streak_type", source=pl.lit("chain"))


def stored_requests(state: pl.DataFrame) -> pl.DataFrame:
    """Assignments written into the state by someone else (the legacy batch backend does)."""
    return state.filter(pl.col("assign_next_streak_type").is_not_null()).select(
        "user_id", target="assign_next_streak_type", source=pl.lit("batch"))


def batch_requests(state: pl.DataFrame, eligible: pl.DataFrame) -> pl.DataFrame:
    """The batch asks for every eligible user not already on that campaign."""
    return (
        eligible.join(state.select("user_id", "streak_type"), on="user_id", how="inner")
        .filter(pl.col("campaign") != pl.col("streak_type"))
        .select("user_id", target="campaign", source=pl.lit("batch"))
    )


def combine(*requests: pl.DataFrame) -> pl.DataFrame:
    """One request per user: the first frame that names the user wins."""
    frames = [r.cast(REQUEST_SCHEMA) for r in requests]
    if not frames:
        return pl.DataFrame(schema=REQUEST_SCHEMA)
    return pl.concat(frames).unique("user_id", keep="first", maintain_order=True)
