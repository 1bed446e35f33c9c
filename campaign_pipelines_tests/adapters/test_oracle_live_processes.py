"""Live Oracle, several processes: two allocating codes at once, and a load killed with
SIGKILL half way and then run again. Skipped, as test_oracle_live.py, without ORACLE_DSN,
ORACLE_USER and ORACLE_PASSWORD; its statements go through the fake in
test_oracle_live_on_fake.py."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import oracledb
import polars as pl
import pytest

from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment
from campaign_pipelines.adapters.warehouse.oracle_errors import ora_code
from campaign_pipelines.core.deployment import MB22_LOCAL_TARGET
from campaign_pipelines_tests.adapters.test_oracle_live import (
    LEDGER_ROWS,
    LOCK_CAMPAIGN_ROWS,
    RESOURCE_BUSY,
    TARGET_COUNT,
    TARGET_IINS,
    forget,
    live_request,
    live_warehouse,
    pytestmark,  # noqa: F401 - the same skip, for the same reason
    target_rows,
)


@pytest.fixture
def deployment() -> OracleDeployment:
    deployment = OracleDeployment(live_warehouse())
    deployment.init_schema()
    return deployment


@pytest.fixture
def campaign_key(deployment):
    key = f"live-test-{uuid.uuid4().hex[:12]}"
    yield key
    forget(deployment, [key])


def allocate_in_child(keys: list[str], go, results) -> None:
    """A spawned process's allocations: wait for the signal, allocate, report (or the error)."""
    deployment = OracleDeployment(live_warehouse())
    deployment.require_tables()  # connected (pool and session ready) before the signal
    go.wait(60)
    try:
        results.put([(key, deployment.allocate_codes(key, live_request()).campaign_code)
                     for key in keys])
    except Exception as error:  # reported, so the parent's assertion names it
        results.put(repr(error))


@pytest.mark.long_pole(seconds=30)
def test_two_processes_allocating_at_once_never_share_a_code(deployment):
    prefix = f"live-race-{uuid.uuid4().hex[:8]}"
    batches = [[f"{prefix}-{side}-{n}" for n in range(15)] for side in "ab"]
    spawn = multiprocessing.get_context("spawn")
    go, results = spawn.Event(), spawn.Queue()
    children = [spawn.Process(target=allocate_in_child, args=(keys, go, results))
                for keys in batches]
    try:
        for child in children:
            child.start()
        time.sleep(5)  # both connected and waiting
        go.set()
        answers = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join(30)
        assert all(isinstance(answer, list) for answer in answers), answers
        codes = [code for answer in answers for _, code in answer]
        assert len(codes) == 30 == len(set(codes))
        registry = deployment.registry().filter(pl.col("campaign_key").str.starts_with(prefix))
        assert sorted(registry["campaign_code"]) == sorted(codes)
    finally:
        for child in children:
            child.kill()
        forget(deployment, [key for keys in batches for key in keys])


def load_in_child(code: str, count: int, started) -> None:
    """A spawned process's load, slow on purpose (1,000-row batches), killed while it runs."""
    deployment = OracleDeployment(live_warehouse(), batch_size=1_000)
    deployment.require_tables()
    rows = target_rows(code, count, 600_000_000_000)
    started.set()
    deployment.replace_campaign_rows(MB22_LOCAL_TARGET, code, rows)


def rows_locked(deployment: OracleDeployment, code: str) -> bool:
    """Whether another session holds the campaign's rows (its replace has deleted them and
    not committed): ORA-00054 to our NOWAIT lock. Needs no privilege on V$ views."""
    with deployment.warehouse.connect() as connection:
        try:
            connection.cursor().execute(LOCK_CAMPAIGN_ROWS, {"code": code})
        except oracledb.DatabaseError as error:
            if ora_code(error) == RESOURCE_BUSY:
                return True
            raise
        finally:
            connection.rollback()
    return False


@pytest.mark.long_pole(seconds=60)
def test_a_load_killed_mid_way_leaves_the_previous_rows_and_a_rerun_the_new_ones(
        deployment, campaign_key):
    code = deployment.allocate_codes(campaign_key, live_request()).campaign_code
    deployment.replace_campaign_rows(MB22_LOCAL_TARGET, code, target_rows(code, 700))
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    child = spawn.Process(target=load_in_child, args=(code, 2_000_000, started))
    child.start()
    try:
        assert started.wait(120), "the loading process never got ready"
        deadline = time.monotonic() + 60
        while not rows_locked(deployment, code):  # its DELETE has run: the load is under way
            assert child.is_alive() and time.monotonic() < deadline, "the load never started"
            time.sleep(0.2)
        time.sleep(2)  # some of its 2,000 insert round trips
        assert child.is_alive(), "the load finished before the kill: give it more rows"
    finally:
        child.kill()  # SIGKILL: no rollback, no goodbye; the server rolls the session back
        child.join(30)
    assert child.exitcode == -9
    # Committed data only: the killed load's rows were never committed.
    assert deployment.warehouse.fetch(TARGET_COUNT, {"code": code}).item() == 700
    ledger_of = {"code": code, "table_name": MB22_LOCAL_TARGET.qualified}
    assert deployment.warehouse.fetch(LEDGER_ROWS, ledger_of).item() == 700
    # The rerun's DELETE waits, if need be, for the server to finish that rollback.
    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, code,
                                            target_rows(code, 1_500, 500_000_000_000)) == 1_500
    iins = deployment.warehouse.fetch(TARGET_IINS, {"code": code})["IIN"]
    assert iins.len() == 1_500 == iins.n_unique()
    assert iins.min() == "500000000000"
    assert deployment.warehouse.fetch(LEDGER_ROWS, ledger_of).item() == 1_500
