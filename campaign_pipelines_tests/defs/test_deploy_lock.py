"""Waiting for the DuckDB lock: bounded by one setting, said aloud while it lasts, and a clear
failure when it ends, with a real second process holding the file open for writing."""

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines.adapters.warehouse.duckdb import (
    DuckDBDeployment,
    DuckDBWarehouse,
    WarehouseLockedError,
)
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines.defs.audiences.jobs import audience_job
from campaign_pipelines.defs.resources import DuckDBWarehouseResource
from campaign_pipelines.responses import campaign_response
from campaign_pipelines.service import Location, register
from campaign_pipelines_tests.bank import request_text

_HOLD = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(300)
"""
FIX = "stop the other process or raise CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S"


@pytest.fixture
def hold(data_dir):
    """Starts a second process with the warehouse file open for writing; killed at the end."""
    children = []

    def start() -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(data_dir / "warehouse.duckdb")],
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout.readline().strip() == "holding"
        return child

    yield start
    for child in children:
        child.kill()
        child.wait()


@pytest.fixture
def holder(hold):
    return hold()


def test_a_locked_file_waits_the_timeout_once_with_progress_then_names_holder_and_fix(
    data_dir, holder, caplog
):
    warehouse = DuckDBWarehouse(
        data_dir / "warehouse.duckdb", lock_timeout_s=1.5, lock_progress_s=0.5
    )
    request = parse_request(request_text())
    caplog.set_level(logging.INFO, logger="campaign_pipelines.warehouse")
    started = time.monotonic()
    with pytest.raises(WarehouseLockedError) as raised:
        # Code allocation retries on conflicts; the lock wait is still bounded once.
        DuckDBDeployment(warehouse).allocate_codes("spring", request)
    waited = time.monotonic() - started
    assert 1.5 <= waited < 10  # the budget, once: not once per allocation attempt
    message = str(raised.value)
    assert str(warehouse.path) in message and f"(PID {holder.pid})" in message
    assert "1.5 s" in message and FIX in message
    progress = [r.getMessage() for r in caplog.records if r.name == "campaign_pipelines.warehouse"]
    assert len(progress) >= 2
    assert progress[0] == (
        f"waiting for the DuckDB lock on {warehouse.path}, held by "
        f"{raised.value.holder} for 0.5 s of 1.5 s"
    )
    assert f"(PID {holder.pid})" in raised.value.holder


def test_the_lock_is_taken_as_soon_as_the_holder_lets_go(data_dir, holder):
    """The holder is killed (SIGKILL: nothing it inherited can block or ignore it) a second
    into the wait, and the wait ends with the lock."""
    warehouse = DuckDBWarehouse(data_dir / "warehouse.duckdb", lock_timeout_s=30)
    letting_go = threading.Timer(1.0, holder.kill)
    letting_go.start()
    started = time.monotonic()
    try:
        with warehouse.connect() as connection:
            assert connection.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        letting_go.cancel()
    assert 0.9 <= time.monotonic() - started < 10  # it waited for the holder, no longer


def test_the_default_is_120_s():
    assert DuckDBWarehouse(Path("x.duckdb")).lock_timeout_s == 120


class _ShortLockWarehouse(DuckDBWarehouseResource):
    """The project's DuckDB resource with a test-sized lock timeout."""

    def adapter(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(Path(self.database), lock_timeout_s=1.5, lock_progress_s=0.5)


def test_a_locked_warehouse_fails_the_step_once_with_the_reason(location, data_dir, tmp_path, hold):
    from campaign_pipelines.definitions import defs

    loaded = defs()
    short = _ShortLockWarehouse(
        database=str(data_dir / "warehouse.duckdb"),
        reference_config_path=loaded.resources["warehouse"].reference_config_path,
    )
    patched = dg.Definitions(
        assets=loaded.assets,
        asset_checks=loaded.asset_checks,
        jobs=[
            dg.define_asset_job("audience_only", selection=audience_job.selection),
            dg.define_asset_job(
                "deploy_only",
                selection=dg.AssetSelection.groups("deployment") | dg.AssetSelection.assets(
                    "campaign_codes"
                ),
            ),
        ],
        resources={**loaded.resources, "warehouse": short},
    )
    managed = {"python_logs": {"managed_python_loggers": ["campaign_pipelines.warehouse"]}}
    with dg.instance_for_test(overrides=managed) as instance:
        path = tmp_path / "locked.json"
        path.write_text(request_text(), encoding="utf-8")
        registered = register(Location(defs=patched, instance=instance), path)
        key, request = registered.admitted.key, registered.admitted.request
        built = patched.resolve_job_def("audience_only").execute_in_process(
            instance=instance, partition_key=key, run_config=registered.run_config
        )
        assert built.success
        holder = hold()  # the audience is built; now someone holds the warehouse
        result = patched.resolve_job_def("deploy_only").execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False
        )
        assert not result.success
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retried == []
        logs = [
            e.user_message
            for e in instance.all_logs(result.run_id)
            if e.step_key == "campaign_codes"
        ]
        assert any("waiting for the DuckDB lock on" in m for m in logs)
        body = campaign_response(key, request, result)
    assert not body["success"] and not body["deployment_result"]["success"]
    registry_error = body["deployment_result"]["errors"][0]
    assert registry_error.startswith("campaign_ops.campaign_registry: ")
    assert f"(PID {holder.pid})" in registry_error and FIX in registry_error

