"""Races and crashes with real processes: codes stay unique, a killed load leaves no half."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from campaign_pipelines.core import deployment as tables
from campaign_pipelines_tests.bank import request_text

ROOT = Path(__file__).resolve().parent.parent


def _env(data_dir: Path, home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    # An instance in use already has its storage; creating it is not part of the race.
    dg.DagsterInstance.from_config(str(home)).dispose()
    return {**os.environ, "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}


def test_eight_creates_at_the_same_moment_get_eight_codes(location, data_dir, tmp_path):
    env = _env(data_dir, tmp_path / "dagster_home")
    requests = []
    for i in range(8):
        path = tmp_path / f"race_{i}.json"
        path.write_text(request_text(), encoding="utf-8")
        requests.append(path)
    campaigns = str(Path(sys.executable).with_name("campaigns"))
    processes = [
        subprocess.Popen(
            [campaigns, "create", str(p)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in requests
    ]
    outputs = [p.communicate(timeout=600) for p in processes]  # 8 runs share 2 cores
    assert all(out for out, _ in outputs), [err[-2000:] for out, err in outputs if not out]
    bodies = [json.loads(out) for out, _ in outputs]
    assert all(b["success"] for b in bodies), [b["message"] for b in bodies if not b["success"]]
    codes = {b["campaign_code"] for b in bodies}
    assert len(codes) == 8


_SLOW_LOAD = """
import sys
from pathlib import Path
import polars as pl
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.core import deployment as tables
rows = pl.DataFrame({"CAMPAIGNCODE": "C000000777", "IIN": pl.int_range(0, 20_000_000, eager=True)
                     .cast(pl.String).str.zfill(12), "LOAD_DATE": None},
                    schema=tables.polars_schema(tables.MB22_LOCAL_TARGET))
print("loading", flush=True)
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


def test_a_load_killed_midway_leaves_the_previous_rows_and_the_rerun_one_copy(location, data_dir):
    db = data_dir / "warehouse.duckdb"
    deployment = location.warehouse.deployment()
    before = pl.DataFrame(
        {"CAMPAIGNCODE": "C000000777", "IIN": ["850315300100"] * 1, "LOAD_DATE": None},
        schema=tables.polars_schema(tables.MB22_LOCAL_TARGET),
    )
    deployment.replace_campaign_rows(tables.MB22_LOCAL_TARGET, "C000000777", before)

    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_LOAD, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "loading"
    time.sleep(0.8)  # well inside the 20M-row load, which takes about 3 s
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert _count(db) == (1, 1)  # the uncommitted load vanished; the previous rows stand

    rerun = subprocess.run(
        [sys.executable, "-c", _SLOW_LOAD, str(db)], capture_output=True, text=True, timeout=300
    )
    assert rerun.stdout.split() == ["loading", "done"]
    assert _count(db) == (20_000_000, 20_000_000)
