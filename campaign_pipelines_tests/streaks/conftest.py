from datetime import UTC, datetime

import polars as pl
import pytest

from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG, load_config_file
from campaign_pipelines.core.streaks.config import JourneyConfig, parse_config
from campaign_pipelines.core.streaks.eligibility import ACTIVITY_SCHEMA
from campaign_pipelines.core.streaks.engine import STATE_SCHEMA, RunStamp

UPI, SNP, CRED = ("upi_25x1_streak", "snp_flat_10_multilob_act_react",
                  "cred_mtu_single_lob_others_retention")
EXPERIMENT = "30x5_streak"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def config() -> JourneyConfig:
    return load_config_file(DEFAULT_CONFIG)


def make_state(*rows: tuple) -> pl.DataFrame:
    """rows: (user_id, streak_type[, streak_status[, next_eligible]])."""
    records = []
    for row in rows:
        user, streak = row[0], row[1]
        status = row[2] if len(row) > 2 else ("none" if streak == "NA" else "active")
        nxt = row[3] if len(row) > 3 else None
        records.append({"user_id": user, "streak_type": streak, "assign_next_streak_type": None,
                        "next_eligible_streak_type": nxt, "streak_status": status,
                        "updated_at": T0})
    return pl.DataFrame(records, schema=STATE_SCHEMA)


def make_activity(user_ids: list[int], completed: dict[int, str] | None = None,
                  **columns) -> pl.DataFrame:
    completed = completed or {}
    n = len(user_ids)
    base = {"user_id": user_ids, "activity_date": [T0.date()] * n, "upi_linked": [False] * n,
            "upi_txn_30d": [30] * n, "snp_txn_30d": [5] * n, "days_since_last_txn": [1] * n,
            "active_lobs": [0] * n, "credit_mtu": [False] * n,
            "completed_streak_type": [completed.get(u) for u in user_ids]}
    base.update(columns)
    return pl.DataFrame(base, schema=ACTIVITY_SCHEMA)


def requests(*rows: tuple[int, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"user_id": pl.Int64, "target": pl.String,
                                      "source": pl.String}, orient="row")


def stamp(run_id: str = "run-1", day: int = 0) -> RunStamp:
    return RunStamp(run_id=run_id, at=T0.replace(day=1 + day))


def chain_config() -> JourneyConfig:
    """Experiments A → B → C → NA."""
    campaigns = [{"name": n, "id": str(i), "type": "streak", "kind": "experiment", "next": nxt}
                 for i, (n, nxt) in enumerate([("A", "B"), ("B", "C"), ("C", "NA")])]
    rules = [{"conditions": {"assign_next_streak_type": n}, "config_key": n,
              "metadata": {"next_eligible_streak_type": n}} for n in "ABC"]
    return parse_config({"version": 1, "campaigns": campaigns, "rules": rules}, "test")
