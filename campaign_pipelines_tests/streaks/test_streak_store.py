"""The DuckDB streak store on real files in tmp_path."""

from dataclasses import dataclass

import polars as pl
import pytest

from campaign_pipelines.adapters.streak_store import StreakStore, StreakStoreError
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.streaks.engine import decide
from campaign_pipelines.demo.user_activity import generate_user_activity, write_user_activity
from campaign_pipelines_tests.streaks.conftest import EXPERIMENT, UPI, make_state, requests, stamp


@pytest.fixture
def store(tmp_path) -> StreakStore:
    return StreakStore(DuckDBWarehouse(tmp_path / "warehouse.duckdb"))


def test_update_writes_state_and_appends_audit_in_one_transaction(store, config):
    store.replace_state(make_state((1, "NA"), (2, EXPERIMENT)))
    wanted = requests((1, UPI, "batch"), (2, UPI, "batch"))
    store.update(lambda state: decide(state, wanted, config, stamp("run-1")))
    store.update(lambda state: decide(state, requests((1, EXPERIMENT, "manual")), config,
                                      stamp("run-2", 1)))
    state = dict(store.read_state().select("user_id", "streak_type").iter_rows())
    assert state == {1: EXPERIMENT, 2: EXPERIMENT}
    audit = store.read_audit()
    assert audit.select("run_id", "user_id", "action").rows() == [
        ("run-1", 1, "assigned"), ("run-1", 2, "blocked"), ("run-2", 1, "assigned")]
    assert store.read_audit("run-2").height == 1


def test_a_failing_plan_writes_nothing(store, config):
    store.replace_state(make_state((1, "NA")))

    @dataclass
    class Broken:
        updates: pl.DataFrame
        audit: pl.DataFrame

    def plan(state):
        good = decide(state, requests((1, UPI, "batch")), config, stamp())
        return Broken(updates=good.updates, audit=good.audit.with_columns(user_id=None))

    with pytest.raises(Exception, match="NOT NULL"):
        store.update(plan)
    assert store.read_state()["streak_type"].to_list() == ["NA"]
    assert store.read_audit().height == 0


def test_missing_activity_is_named(store):
    with pytest.raises(StreakStoreError, match="sources.user_activity does not exist.*demo-data"):
        store.read_activity()


def test_demo_data_round_trips_and_is_deterministic(tmp_path, store):
    summary = write_user_activity(tmp_path / "warehouse.duckdb", users=500, seed=3)
    assert summary["tables"] == {"sources.user_activity": 500,
                                 "campaign_ops.user_streak_state": 500}
    frames = generate_user_activity(500, seed=3)
    assert store.read_state().sort("user_id").equals(frames["user_streak_state"])
    assert store.read_activity().sort("user_id").equals(frames["user_activity"])
    assert generate_user_activity(500, seed=3)["user_activity"].equals(frames["user_activity"])
