"""What is deployed is reported per table: each load records the request version it wrote in
the same transaction, so a process killed in the middle of a load is reported as it is, and a
rerun of the same request repairs it. Real DuckDB file, real Dagster runs, real SIGKILL."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign_pipelines.adapters.warehouse.ddl import WAREHOUSE_TABLES
from campaign_pipelines.cli import main
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.requests import parse_request, request_version
from campaign_pipelines_tests import templates
from campaign_pipelines_tests.bank import CUSTOMERS, request_text
from campaign_pipelines_tests.defs.test_deployment import _deploy, _rows
from campaign_pipelines_tests.test_cli import created_tables

ROOT = Path(__file__).resolve().parents[2]
REPAIR = "rerun `campaigns create FILE` with the same request to repair"

# `campaigns create FILE` in a child process whose target-table load stops after its DELETE and
# INSERT, before its COMMIT, and says so: that is where the test kills it.
_KILLED_MID_LOAD = """
import sys, time
from pathlib import Path
from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.cli import main

record_load = statements.record_load

def slow(run, table, *args):
    if table is tables.MB22_LOCAL_TARGET:
        Path(sys.argv[2]).write_text("loading", encoding="utf-8")
        time.sleep(600)
    return record_load(run, table, *args)

statements.record_load = slow
sys.exit(main(["create", sys.argv[1]]))
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A Dagster home for the `campaigns` commands this process runs."""
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    shutil.copy(ROOT / "dagster.yaml", folder / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def _show(code: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["show", code]) == 0
    return json.loads(capsys.readouterr().out)


def _version(text: str) -> str:
    return request_version(parse_request(text))


def test_a_deployed_campaign_reports_every_table_at_its_version(location, home, capsys):
    text = request_text()
    body = _deploy(location, "ledger.json", text)
    shown = _show(body["campaign_code"], capsys)
    deployment = shown["deployment"]
    assert deployment["state"] == "deployed", deployment["message"]
    assert shown["request_version"] == _version(text)
    assert set(deployment["tables"]) == {t.qualified for t in tables.DEPLOYMENT_TABLES}
    rows = {name: t["rows"] for name, t in deployment["tables"].items()}
    assert rows == {
        "dssb_ocds.mb01_camp_dict": 1,
        "dssb_ocds.rb3_tr_campaign_dict": 0,  # written empty: an RB1 keeps nothing there
        "dssb_ocds.mb22_local_target": 2,
        "dssb_ocds.mb21_local_control": 0,
        "spss.fd_rb2_campaigns_users": 2,
        "spss.off_limit_campaigns_users": 2,
    }
    assert all(t["loaded_at"] for t in deployment["tables"].values())
    capsys.readouterr()
    assert main(["list"]) == 0
    listed = json.loads(capsys.readouterr().out)["campaigns"][0]
    assert listed["deployment"]["state"] == "deployed" and listed["user_count"] == 2


def test_tables_switched_off_keep_their_version_and_do_not_count(location, home, capsys):
    first = request_text()
    _deploy(location, "options.json", first)
    options = {"deploy_users": False, "deploy_offlimit": False}
    second = request_text(deploy_options=options, replaces="options")
    body = _deploy(location, "options.json", second)
    deployment = _show(body["campaign_code"], capsys)["deployment"]
    assert deployment["state"] == "deployed", deployment["message"]
    assert deployment["tables"]["spss.fd_rb2_campaigns_users"]["request_version"] == (
        _version(first)
    )
    assert deployment["tables"]["dssb_ocds.mb22_local_target"]["request_version"] == (
        _version(second)
    )


@pytest.mark.long_pole(seconds=12)
def test_a_deploy_killed_mid_load_is_partial_and_a_rerun_repairs_it(
    location, data_dir, tmp_path, home, cli_template, capsys
):
    old = request_text()
    code = _deploy(location, "kill.json", old)["campaign_code"]
    everyone = [c.iin for c in CUSTOMERS.values()]
    new = request_text(user_iins=everyone, filter_config={}, replaces="kill")
    child = _start_deploy_to_kill(tmp_path, data_dir, new, cli_template)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    shown = _show(code, capsys)
    deployment = shown["deployment"]
    assert deployment["state"] == "partial"
    assert shown["request_version"] == _version(new)  # what the registry describes ...
    meta = deployment["tables"]["dssb_ocds.mb01_camp_dict"]
    target = deployment["tables"]["dssb_ocds.mb22_local_target"]
    assert meta["request_version"] == _version(new)  # ... the metadata table has it ...
    assert (target["request_version"], target["rows"]) == (_version(old), 2)  # ... not this one
    assert f"dssb_ocds.mb22_local_target holds version {_version(old)}" in deployment["message"]
    assert REPAIR in deployment["message"]
    assert shown["user_count"] == 2 == _rows(data_dir, tables.MB22_LOCAL_TARGET, code)

    rerun = _deploy(location, "kill.json", new)
    assert rerun["success"], rerun["message"]
    repaired = _show(code, capsys)
    assert repaired["deployment"]["state"] == "deployed", repaired["deployment"]["message"]
    target_count = rerun["filter_stats"]["target_count"]
    assert target_count > 2
    assert repaired["user_count"] == target_count
    assert _rows(data_dir, tables.MB22_LOCAL_TARGET, code) == target_count


def test_delete_clears_the_ledger_and_the_counts(location, home, capsys):
    body = _deploy(location, "gone.json", request_text(control_group={"share": 0.5}))
    code = body["campaign_code"]
    capsys.readouterr()
    assert main(["delete", code]) == 0
    shown = _show(code, capsys)
    assert shown["status"] == "Deleted"
    assert shown["deployment"]["state"] == "not deployed"
    assert shown["deployment"]["tables"] == dict.fromkeys(
        [t.qualified for t in tables.DEPLOYMENT_TABLES],
        {"request_version": None, "rows": None, "loaded_at": None},
    )
    assert (shown["user_count"], shown["control_count"]) == (0, 0)
    assert location.warehouse.deployment().deployments().is_empty()


def _start_deploy_to_kill(
    tmp_path: Path, data_dir: Path, text: str, cli_template: Path
) -> subprocess.Popen:
    """`campaigns create` of ``text`` in a child, returned once its target load is underway
    (after the metadata table got the new version). The child's home is a copy of the
    session's cli_template home, whose records say the reference data is built (data_dir holds
    the files), so the child does not rebuild it before its create."""
    path = tmp_path / "kill.json"
    path.write_text(text, encoding="utf-8")
    child_home = tmp_path / "child_home"
    templates.copy_into(cli_template / templates.CLI_HOME, child_home)
    env = {"CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(child_home)}
    marker, errors = tmp_path / "loading", tmp_path / "child.err"
    with errors.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", _KILLED_MID_LOAD, str(path), str(marker)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 300
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            child.wait()
            pytest.fail(f"the child never reached the target load:\n{errors.read_text()[-3000:]}")
        time.sleep(0.1)
    return child



@pytest.mark.parametrize("dialect", ["oracle", "duckdb"])
def test_db_ddl_prints_the_ledger_and_the_registry_version(dialect, capsys):
    assert main(["db", "ddl", "--dialect", dialect]) == 0
    statements = [s.strip() for s in capsys.readouterr().out.split(";") if s.strip()]
    ledger = [s for s in statements if "campaign_ops.campaign_deployments" in s]
    assert len(ledger) == 1
    assert "PRIMARY KEY (campaign_code, table_name)" in ledger[0]
    (registry,) = [s for s in statements if "campaign_ops.campaign_registry" in s]
    assert "request_version" in registry and "deploy_tables" in registry
    tables = [s for s in statements if s.startswith("CREATE TABLE")]  # then their indexes
    assert created_tables(tables, dialect) == {
        t.qualified: t.column_names for t in WAREHOUSE_TABLES}
