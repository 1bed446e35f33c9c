"""Demo data of the streaks domain: ``sources.user_activity`` and an initial
``campaign_ops.user_streak_state``.

Deterministic for ``(users, seed)`` (numpy generator, fixed anchor day), so tests can rely on
exact counts. The state mixes users on NA, in the three batch buckets and in experiments
(30x5_streak and the weekend → loyalty chain); a few users have just completed their streak,
so the first daily run shows chain hops as well as batch assignments and blocked users.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG, load_config_file
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.streaks.config import NA
from campaign_pipelines.core.streaks.eligibility import ACTIVITY_SCHEMA
from campaign_pipelines.core.streaks.engine import ACTIVE, NONE, STATE_SCHEMA

ACTIVITY_DAY = date(2026, 11, 1)  # the demo's notional "today" (as in synthetic_bank.py)
STATE_UPDATED = datetime(2026, 10, 1, tzinfo=UTC)
FIRST_USER_ID = 1_000_001
STREAK_SHARES = {
    NA: 0.55,
    "upi_25x1_streak": 0.15,
    "snp_flat_10_multilob_act_react": 0.10,
    "cred_mtu_single_lob_others_retention": 0.10,
    "30x5_streak": 0.05,
    "weekend_7x2_streak": 0.03,
    "loyalty_30x1_streak": 0.02,
}
COMPLETED_SHARE = 0.05  # of users in a streak, reported completed today


def generate_user_activity(users: int, seed: int = 7) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    user_id = np.arange(FIRST_USER_ID, FIRST_USER_ID + users, dtype=np.int64)
    names = list(STREAK_SHARES)
    picks = rng.choice(len(names), size=users, p=list(STREAK_SHARES.values()))
    streak = pl.Series("streak_type", names, dtype=pl.String).gather(picks)
    completed = (streak != NA) & pl.Series(rng.random(users) < COMPLETED_SHARE)
    successors = load_config_file(DEFAULT_CONFIG).chain_successors()
    state = pl.DataFrame({"user_id": user_id, "streak_type": streak}).with_columns(
        assign_next_streak_type=pl.lit(None, dtype=pl.String),
        next_eligible_streak_type=pl.col("streak_type").replace_strict(
            successors, default=None, return_dtype=pl.String),
        streak_status=pl.when(pl.col("streak_type") == NA).then(pl.lit(NONE))
        .otherwise(pl.lit(ACTIVE)),
        updated_at=pl.lit(STATE_UPDATED),
    ).cast(STATE_SCHEMA)
    never_paid = rng.random(users) < 0.05
    activity = pl.DataFrame({
        "user_id": user_id,
        "upi_linked": rng.random(users) < 0.70,
        "upi_txn_30d": rng.poisson(9, users),
        "snp_txn_30d": np.where(rng.random(users) < 0.5, 0, rng.poisson(4, users)),
        "days_since_last_txn": np.where(never_paid, -1, rng.integers(0, 120, users)),
        "active_lobs": rng.integers(0, 5, users),
        "credit_mtu": rng.random(users) < 0.20,
    }).with_columns(
        activity_date=pl.lit(ACTIVITY_DAY),
        days_since_last_txn=pl.when(pl.col("days_since_last_txn") >= 0)
        .then(pl.col("days_since_last_txn")),
        completed_streak_type=pl.when(completed).then(streak),
    ).select(ACTIVITY_SCHEMA.names()).cast(ACTIVITY_SCHEMA)
    return {"user_activity": activity, "user_streak_state": state}


def write_user_activity(db_path: Path, users: int, seed: int = 7) -> dict:
    """Replaces ``sources.user_activity`` and ``campaign_ops.user_streak_state`` in the DuckDB
    file (the audit is kept: it is append-only). Returns rows per table and seconds taken."""
    started = time.perf_counter()
    frames = generate_user_activity(users, seed)
    store = StreakStore(DuckDBWarehouse(Path(db_path)))
    store.replace_activity(frames["user_activity"])
    store.replace_state(frames["user_streak_state"])
    return {
        "warehouse": str(db_path),
        "tables": {
            "sources.user_activity": frames["user_activity"].height,
            "campaign_ops.user_streak_state": frames["user_streak_state"].height,
        },
        "seconds": round(time.perf_counter() - started, 3),
    }
