"""Races and crashes with real processes: codes stay unique, a killed load leaves no half."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from campaign_pipelines.core import deployment as tables
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.templates import use_cli_template

RACERS = 2


@pytest.fixture
def env(data_dir, cli_template, tmp_path, monkeypatch) -> dict[str, str]:
    """A DAGSTER_HOME with the project's dagster.yaml, tables created and reference data built
    (a copy of the session's cli_template): the racers contend for codes, not for a refresh."""
    home = use_cli_template(cli_template, tmp_path, monkeypatch)
    return {**os.environ, "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}


@pytest.mark.long_pole(seconds=15)
def test_creates_at_the_same_moment_get_distinct_codes_and_all_deploy(env, data_dir, tmp_path):
    """RACERS real `campaigns create` processes of tiny campaigns started together, each
    allocating a code in the registry. Two: what the race needs is a run allocating while
    another is under way, and the test asserts that this overlap happened (the later run
    started while the other was still going); each racer more costs about 4 s of CPU (Dagster's
    import, the instance, the run) and only widens the same overlap. The instance is copied
    with the reference refresh
    already recorded, so no racer rebuilds reference data first (that would serialize them on
    the pool and race nothing but the refresh)."""
    requests = []
    for i in range(RACERS):
        path = tmp_path / f"race_{i}.json"
        path.write_text(request_text(), encoding="utf-8")
        requests.append(path)
    campaigns = str(Path(sys.executable).with_name("campaigns"))
    processes = [
        subprocess.Popen([campaigns, "create", str(p)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for p in requests
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    assert all(out for out, _ in outputs), [err[-2000:] for out, err in outputs if not out]
    bodies = [json.loads(out) for out, _ in outputs]
    assert all(b["success"] for b in bodies), [b["message"] for b in bodies if not b["success"]]
    codes = {b["campaign_code"] for b in bodies}
    assert len(codes) == RACERS

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name="campaign_job"))
    assert len(records) == RACERS
    # The race needs a run allocating while another is under way: the later to start began
    # before the other had ended.
    last_start = max(r.start_time for r in records)
    assert any(r.end_time > last_start for r in records if r.start_time < last_start), \
        "no run was going while another started: nothing raced"

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        for body in bodies:  # no deploy lost: each campaign holds its own target rows
            code = body["campaign_code"]
            rows = connection.execute(
                "SELECT COUNT(*) FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = ?", [code]
            ).fetchone()[0]
            assert rows == body["filter_stats"]["target_count"] > 0, code
            registered = connection.execute(
                "SELECT COUNT(*) FROM campaign_ops.campaign_registry WHERE campaign_code = ?",
                [code],
            ).fetchone()[0]
            assert registered == 1, code


# Many row groups (DuckDB's are 122,880 rows): DuckDB writes each full one to the database file
# before the commit (DuckDB 2.0: the file grows by ~1 MB at 122,880 rows, not at all at 50,000),
# so the kill leaves uncommitted blocks in the file, not only in memory. The test checks it.
ROWS = 500_000
# Replaces campaign C000000777's rows with ROWS new ones. Given a marker path, the load stops
# inside its transaction, after its DELETE and INSERT and before its COMMIT, and says so by
# writing the marker: that is where the test kills it.
_LOAD = f"""
import sys, time
from pathlib import Path
import polars as pl
from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.core import deployment as tables
rows = pl.DataFrame({{"CAMPAIGNCODE": "C000000777", "IIN": pl.int_range(0, {ROWS}, eager=True)
                     .cast(pl.String).str.zfill(12), "LOAD_DATE": None}},
                    schema=tables.polars_schema(tables.MB22_LOCAL_TARGET))
if len(sys.argv) > 2:
    def paused(*args):
        Path(sys.argv[2]).write_text("loading", encoding="utf-8")
        time.sleep(600)
    statements.record_load = paused
DuckDBDeployment(DuckDBWarehouse(Path(sys.argv[1]))).replace_campaign_rows(
    tables.MB22_LOCAL_TARGET, "C000000777", rows)
print("done", flush=True)
"""


def _count(db: Path) -> tuple[int, int]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT IIN) FROM dssb_ocds.mb22_local_target "
            "WHERE CAMPAIGNCODE = 'C000000777'"
        ).fetchone()


def test_a_load_killed_midway_leaves_the_previous_rows_and_the_rerun_one_copy(
    location, data_dir, tmp_path
):
    """Killed where the loaded rows are inserted and not committed (the child says when, so
    the kill never lands before the INSERT or after the COMMIT, as a sleep into a 20M-row load
    could on a busy or a fast host)."""
    db = data_dir / "warehouse.duckdb"
    deployment = location.warehouse.deployment()
    before = pl.DataFrame(
        {"CAMPAIGNCODE": "C000000777", "IIN": ["850315300100"] * 1, "LOAD_DATE": None},
        schema=tables.polars_schema(tables.MB22_LOCAL_TARGET),
    )
    deployment.replace_campaign_rows(tables.MB22_LOCAL_TARGET, "C000000777", before)

    marker = tmp_path / "loading"
    committed = db.stat().st_size
    child = subprocess.Popen([sys.executable, "-c", _LOAD, str(db), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the load's rows are inserted, not committed
            assert child.poll() is None and time.monotonic() < deadline, "never reached it"
            time.sleep(0.05)
        loading = db.stat().st_size
    finally:
        child.kill()  # SIGKILL
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert loading > committed  # the uncommitted row groups are in the file
    assert _count(db) == (1, 1)  # the uncommitted load vanished; the previous rows stand

    rerun = subprocess.run(
        [sys.executable, "-c", _LOAD, str(db)], capture_output=True, text=True, timeout=300
    )
    assert rerun.stdout.split() == ["done"], rerun.stderr[-3000:]
    assert _count(db) == (ROWS, ROWS)
