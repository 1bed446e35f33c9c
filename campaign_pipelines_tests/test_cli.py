"""`campaigns` end to end through a real Dagster instance in DAGSTER_HOME."""

import json
import os
import time
from types import SimpleNamespace

import dagster as dg
import pytest
import sqlglot

from campaign_pipelines import service
from campaign_pipelines.adapters.warehouse.ddl import INDEXES, WAREHOUSE_TABLES, index_ddl
from campaign_pipelines.cli import main
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.templates import use_cli_template


@pytest.fixture
def home(data_dir, cli_template, tmp_path, monkeypatch):
    """A DAGSTER_HOME with the project's dagster.yaml after `campaigns db init` and
    `campaigns reference refresh`: a copy of the session's cli_template (templates.py)."""
    return use_cli_template(cli_template, tmp_path, monkeypatch)


def _json_out(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_create_dry_run_prints_the_legacy_response_and_records_the_run(home, tmp_path, capsys):
    capsys.readouterr()
    request = tmp_path / "seed.json"
    request.write_text(request_text(), encoding="utf-8")
    assert main(["create", str(request), "--dry-run"]) == 0
    body = _json_out(capsys)
    assert body["success"] and body["campaign_type"] == "RB1"
    assert body["filter_stats"]["initial_count"] == 3
    assert body["filter_stats"]["blacklist_removed"] == 1
    assert body["filter_stats"]["final_count"] == 2
    assert request.exists()  # a file outside the landing zone is left where it was
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(body["run_id"]).job_name == "audience_job"


def _quiet_period_passes_at_once(landing, monkeypatch) -> list[float]:
    """The command's wait for a fresh landing file (service.wait_for_fresh) as the file sees
    it, without the seconds: each sleep moves the folder's modification times that far into
    the past, as that much time passing would. The sleeps asked for are returned."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        for path in landing.iterdir():
            if path.is_file():
                stamp = path.stat()
                back = int(seconds * 1e9)
                os.utime(path, ns=(stamp.st_atime_ns - back, stamp.st_mtime_ns - back))

    monkeypatch.setattr(service, "time", SimpleNamespace(time=time.time, sleep=sleep))
    return slept


def test_dry_run_leaves_landing_requests_pending_for_the_real_run(home, data_dir, capsys,
                                                                  monkeypatch):
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True, exist_ok=True)
    slept = _quiet_period_passes_at_once(landing, monkeypatch)
    (landing / "preview.json").write_text(request_text(), encoding="utf-8")
    assert main(["run-pending", "--dry-run"]) == 0
    said = capsys.readouterr()
    assert "for preview.json: modified in the last 5 s, maybe still being written" in said.err
    assert "== preview.json: ok" in said.out  # waited for, then previewed
    assert len(slept) == 1 and 0 < slept[0] <= 5.05  # once, at most the quiet period
    assert (landing / "preview.json").exists()
    assert not (landing / "archive" / "preview.json").exists()
    assert main(["run-pending"]) == 0
    assert not (landing / "preview.json").exists()
    assert (landing / "archive" / "preview.json").exists()
    capsys.readouterr()
    assert main(["list"]) == 0
    assert _json_out(capsys)["total_count"] == 1


def test_bad_request_exits_2_naming_the_field(home, tmp_path, capsys):
    capsys.readouterr()
    request = tmp_path / "bad.json"
    request.write_text(request_text(campaign_type="RB9"), encoding="utf-8")
    assert main(["create", str(request), "--dry-run"]) == 2
    body = _json_out(capsys)
    assert not body["success"] and body["errors"][0]["field"] == "campaign_type"


def test_failed_run_exits_1_with_the_reason(home, data_dir, tmp_path, capsys):
    capsys.readouterr()
    uploads = data_dir / "landing" / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "empty.csv").write_bytes(b"")  # admitted (it exists), refused by the run
    request = tmp_path / "empty.json"
    request.write_text(request_text(user_iins=None, user_files=["empty.csv"]), encoding="utf-8")
    assert main(["create", str(request), "--dry-run"]) == 1
    message = _json_out(capsys)["message"]
    assert "empty.csv" in message and "has no rows" in message


def test_missing_file_exits_2(home, tmp_path, capsys):
    assert main(["create", str(tmp_path / "absent.json"), "--dry-run"]) == 2
    assert "does not exist" in _json_out(capsys)["message"]


def test_create_next_code_list_show_delete(home, tmp_path, capsys):
    request = tmp_path / "spring.json"
    request.write_text(request_text(campaign_type="RB3"), encoding="utf-8")
    capsys.readouterr()
    assert main(["next-code", "rb3"]) == 0
    preview = _json_out(capsys)
    assert main(["next-code", "rb3"]) == 0
    assert _json_out(capsys)["campaign_code"] == preview["campaign_code"]  # reserves nothing

    assert main(["create", str(request)]) == 0
    created = _json_out(capsys)
    assert created["campaign_code"] == preview["campaign_code"]
    assert created["xls_ow_id"] == preview["xls_ow_id"]
    assert "dssb_ocds.rb3_tr_campaign_dict" in created["deployment_result"]["tables_updated"]

    assert main(["list", "--type", "RB3"]) == 0
    listed = _json_out(capsys)
    assert listed["total_count"] == 1 and listed["rb3_count"] == 1
    assert listed["campaigns"][0]["status"] == "Finished"  # March 2024 is over
    assert listed["campaigns"][0]["user_count"] == 2

    assert main(["show", created["campaign_code"]]) == 0
    assert _json_out(capsys)["campaign_name"] == "Spring Marketing Campaign"
    assert main(["delete", created["campaign_code"]]) == 0
    assert sum(_json_out(capsys)["rows_removed"].values()) == 7  # 1 + 2 + 2 + 2
    assert main(["list"]) == 0
    assert _json_out(capsys)["total_count"] == 0
    assert main(["show", "C999999999"]) == 2


def created_tables(statements: list[str], dialect: str) -> dict[str, list[str]]:
    """Each CREATE TABLE statement as Oracle or DuckDB parse it: table -> its column names.
    (parse_one raises on what it cannot parse, so parsing alone asserts nothing.)"""
    created = {}
    for statement in statements:
        parsed = sqlglot.parse_one(statement, read=dialect)
        assert isinstance(parsed, sqlglot.exp.Create) and parsed.kind == "TABLE", statement
        table = parsed.find(sqlglot.exp.Table)
        columns = [c.name for c in parsed.find_all(sqlglot.exp.ColumnDef)]
        created[f"{table.db}.{table.name}"] = columns
    return created


def test_oracle_ddl_creates_every_project_table_with_its_columns(capsys):
    assert main(["db", "ddl", "--dialect", "oracle"]) == 0
    statements = [s.strip() for s in capsys.readouterr().out.split(";") if s.strip()]
    tables = [s for s in statements if s.startswith("CREATE TABLE")]
    # six deployment tables, the registry, the ledger, the daily KPIs
    assert created_tables(tables, "oracle") == {
        t.qualified: t.column_names for t in WAREHOUSE_TABLES}
    # and after each table its indexes (adapters/warehouse/ddl.py INDEXES)
    assert [s for s in statements if s not in tables] == [index_ddl(i) for i in INDEXES]


def test_db_init_names_the_warehouse_file(data_dir, capsys):
    assert main(["db", "init"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"schemas and tables ready in DuckDB {data_dir / 'warehouse.duckdb'}")
