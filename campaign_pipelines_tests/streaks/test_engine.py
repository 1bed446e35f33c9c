"""The seed's scenarios on the pure rule engine and daily plan (no Dagster, no I/O)."""

import polars as pl
import pytest

from campaign_pipelines.core.streaks.daily import plan_day
from campaign_pipelines.core.streaks.engine import decide, summarize
from campaign_pipelines.core.streaks.manual import manual_requests
from campaign_pipelines_tests.streaks.conftest import (
    CRED,
    EXPERIMENT,
    SNP,
    UPI,
    chain_config,
    make_activity,
    make_state,
    requests,
    stamp,
)

NO_ELIGIBLE = pl.DataFrame(schema={"user_id": pl.Int64, "campaign": pl.String})


def one(frame: pl.DataFrame, user: int) -> dict:
    rows = frame.filter(pl.col("user_id") == user).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_na_user_assigned_by_batch(config):
    state = make_state((1, "NA"))
    decision = decide(state, requests((1, UPI, "batch")), config, stamp())
    assert one(decision.updates, 1) | {"updated_at": None} == {
        "user_id": 1, "streak_type": UPI, "assign_next_streak_type": None,
        "next_eligible_streak_type": None, "streak_status": "active", "updated_at": None}
    audit = one(decision.audit, 1)
    assert (audit["action"], audit["from_streak"], audit["to_streak"], audit["rule"],
            audit["source"], audit["run_id"]) == ("assigned", "NA", UPI, f"{UPI}[0]", "batch",
                                                   "run-1")


def test_experiment_user_not_moved_by_batch_and_recorded_as_blocked(config):
    """Seed: user in 30x5_streak, batch sets upi_25x1_streak, the NA check keeps them."""
    state = make_state((1, EXPERIMENT))
    decision = decide(state, requests((1, UPI, "batch")), config, stamp())
    assert decision.updates.height == 0
    audit = one(decision.audit, 1)
    assert audit["action"] == "blocked" and audit["from_streak"] == EXPERIMENT
    assert "streak_type EQ NA" in audit["reason"]
    assert summarize(decision.audit)["blocked_per_campaign"] == {UPI: 1}


@pytest.mark.parametrize(("bucket", "wanted"), [(UPI, SNP), (SNP, CRED), (CRED, UPI)])
def test_batch_bucket_user_not_switched(config, bucket, wanted):
    state = make_state((1, bucket))
    decision = decide(state, requests((1, wanted, "batch")), config, stamp())
    assert decision.updates.height == 0
    assert one(decision.audit, 1)["action"] == "blocked"


MOVES = [(start, target)
         for start in ["NA", UPI, SNP, CRED, EXPERIMENT, "weekend_7x2_streak"]
         for target in [EXPERIMENT, "loyalty_30x1_streak"] if start != target]


@pytest.mark.parametrize(("start", "target"), MOVES)
def test_manual_move_from_any_streak_to_any_streak(config, start, target):
    state = make_state((1, start))
    rows = pl.DataFrame({"user_id": [1], "streak": [target]})
    decision = decide(state, manual_requests(rows), config, stamp())
    assert one(decision.updates, 1)["streak_type"] == target
    assert one(decision.audit, 1)["source"] == "manual"


def test_manual_release_to_na_and_same_streak_is_a_no_op(config):
    state = make_state((1, EXPERIMENT), (2, EXPERIMENT))
    decision = decide(state, requests((1, "NA", "manual"), (2, EXPERIMENT, "manual")),
                      config, stamp())
    assert one(decision.updates, 1)["streak_status"] == "none"
    assert decision.audit["user_id"].to_list() == [1]
    assert one(decision.audit, 1)["action"] == "released"


def test_chain_a_b_c_over_three_days():
    config = chain_config()
    state = make_state((7, "NA"))
    first = decide(state, requests((7, "A", "manual")), config, stamp(day=0))
    state = state.update(first.updates, on="user_id", include_nulls=True)
    assert one(state, 7)["next_eligible_streak_type"] == "B"
    seen = []
    for day, done in enumerate(["A", "B", "C"], start=1):
        result = plan_day(state, make_activity([7], {7: done}), NO_ELIGIBLE, config,
                          stamp(f"day-{day}", day))
        state = state.update(result.updates, on="user_id", include_nulls=True)
        row = one(state, 7)
        seen.append((row["streak_type"], row["streak_status"], row["next_eligible_streak_type"]))
        assert one(result.audit, 7)["source"] == "chain"
        assert result.summary["chain_hops"] == 1
    assert seen == [("B", "active", "C"), ("C", "active", "NA"), ("NA", "none", None)]


def test_chain_into_na_protected_batch_campaign_is_refused_once(config):
    hop = config.model_copy(update={"campaigns": [
        c.model_copy(update={"next": UPI}) if c.name == EXPERIMENT else c
        for c in config.campaigns]})
    state = make_state((1, EXPERIMENT, "active", UPI))
    day1 = plan_day(state, make_activity([1], {1: EXPERIMENT}), NO_ELIGIBLE, hop, stamp(day=1))
    assert one(day1.audit, 1)["action"] == "blocked"
    after = one(day1.updates, 1)
    assert (after["streak_type"], after["streak_status"], after["next_eligible_streak_type"]) \
        == (EXPERIMENT, "completed", None)
    state = state.update(day1.updates, on="user_id", include_nulls=True)
    day2 = plan_day(state, make_activity([1]), NO_ELIGIBLE, hop, stamp(day=2))
    assert day2.audit.height == 0 and day2.updates.height == 0


def test_daily_plan_counts_and_priorities(config):
    state = make_state((1, "NA"), (2, EXPERIMENT), (3, UPI), (4, "weekend_7x2_streak",
                                                               "active", "loyalty_30x1_streak"))
    activity = make_activity([1, 2, 3, 4, 5], {4: "weekend_7x2_streak"})
    eligible = pl.DataFrame({"user_id": [1, 2, 3, 4, 5], "campaign": [UPI, UPI, UPI, SNP, SNP]})
    day = plan_day(state, activity, eligible, config, stamp())
    moved = dict(day.updates.select("user_id", "streak_type").iter_rows())
    assert moved == {1: UPI, 4: "loyalty_30x1_streak", 5: SNP}  # 5 is new, joins on NA
    assert day.summary["assigned_per_campaign"] == {SNP: 1, UPI: 1}
    assert day.summary["blocked_per_campaign"] == {UPI: 1}  # the experiment user
    assert (day.summary["chain_hops"], day.summary["new_users"]) == (1, 1)
    assert 3 not in day.audit["user_id"].to_list()  # already on upi: nothing to record


def test_option3_lets_batch_switch_buckets_but_never_experiments(config):
    from campaign_pipelines.adapters.journey_config import CONFIG_DIR, load_config_file
    from campaign_pipelines.core.streaks.simulate import simulate

    option3 = load_config_file(CONFIG_DIR / "option3_bucket_switching.yaml")
    state = make_state((1, UPI), (2, EXPERIMENT), (3, "NA"))
    eligible = pl.DataFrame({"user_id": [1, 2, 3], "campaign": [SNP, SNP, CRED]})
    table, summary = simulate(state, make_activity([1, 2, 3]), eligible, config, option3,
                              stamp())
    switched = table.filter((pl.col("from_streak") == UPI) & (pl.col("action") == "assigned"))
    assert switched.select("to_streak", "current", "proposed", "delta").row(0) == (SNP, 0, 1, 1)
    assert summary["experiment_users_moved_by_batch"] == {"current": 0, "proposed": 0}
    assert summary["moved"] == {"current": 1, "proposed": 2}
