"""A bank's first morning: a DuckDB warehouse whose sources.* tables were filled by hand and
nothing else, `campaigns create FILE` deploying at once, and a customer blacklisted after the
reference refresh left out of the next deploy. The first create is a real `campaigns` process;
the next one, which only has to find what that process left, runs the same command in this
process (a second process would spend two seconds of CPU starting)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from campaign_pipelines_tests.bank import ACRM, CUSTOMERS, request_text
from campaign_pipelines_tests.templates import campaigns_here

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))
LATE = CUSTOMERS["seed_3"].iin  # in the seed request, on no blacklist at the refresh


def _create(env: dict[str, str], path: Path) -> tuple[int, dict, str]:
    done = subprocess.run([CAMPAIGNS, "create", str(path)], env=env, capture_output=True,
                          text=True, timeout=600)
    return done.returncode, json.loads(done.stdout[done.stdout.index("{"):]), done.stderr


@pytest.mark.long_pole(seconds=20)
def test_create_on_a_fresh_warehouse_deploys_and_a_later_blacklisting_is_honoured(
    data_dir, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    first = tmp_path / "first.json"
    first.write_text(request_text(), encoding="utf-8")

    code, body, said = _create(env, first)

    assert code == 0, body["message"]
    assert "reference datasets missing: building them first" in said
    assert body["deployment_result"]["success"]
    assert body["filter_stats"]["final_count"] == 2
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as connection:
        connection.execute("INSERT INTO sources.blacklist VALUES (?, ?)", [ACRM, LATE])
    second = tmp_path / "second.json"
    second.write_text(request_text(), encoding="utf-8")
    # The refresh the first create made is now older than the allowed age (0 s: any age is),
    # without waiting for a positive maximum to pass.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", "0")
    code, out, _ = campaigns_here(capsys, "create", str(second))
    body = json.loads(out[out.index("{"):])

    assert code == 0, body["message"]
    assert body["filter_stats"]["blacklist_removed"] == 2
    assert body["filter_stats"]["final_count"] == 1
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        deployed = connection.execute(
            "SELECT COUNT(*) FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = ? AND IIN = ?",
            [body["campaign_code"], LATE],
        ).fetchone()[0]
    assert deployed == 0
