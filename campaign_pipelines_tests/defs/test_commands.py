"""landing/commands through Dagster on a real DuckDB file and a real landing folder: the sensor
admits command files (or rejects them with their .error.json), one run applies a tick's files
in arrival order and archives each; `campaigns run-pending` does the same from the command line.
Campaigns are deployed straight through the warehouse adapter (the cheapest way to have rows)."""

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import polars as pl
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.cli import main
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.commands import COMMAND_NAMES
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines.defs.commands.jobs import (
    HANDLERS,
    OP_NAME,
    apply_commands,
    apply_commands_job,
)
from campaign_pipelines.defs.commands.sensors import command_arrivals_sensor
from campaign_pipelines.defs.resources import CampaignDataResource, DuckDBWarehouseResource
from campaign_pipelines_tests.bank import CUSTOMERS, request_text

NOW = datetime.now(UTC)


def deploy(database: Path, key: str) -> str:
    """A campaign registered with two target rows, as a deploy leaves them; its code."""
    deployment = DuckDBDeployment(DuckDBWarehouse(database))
    code = deployment.allocate_codes(key, parse_request(request_text())).campaign_code
    rows = pl.DataFrame({"CAMPAIGNCODE": [code] * 2, "IIN": [CUSTOMERS["plain"].iin,
                                                            CUSTOMERS["zero_led"].iin],
                         "LOAD_DATE": [NOW.replace(tzinfo=None)] * 2})
    deployment.replace_campaign_rows(tables.MB22_LOCAL_TARGET, code, rows)
    return code


def target_rows(database: Path, code: str) -> int:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute("SELECT COUNT(*) FROM dssb_ocds.mb22_local_target "
                                  "WHERE CAMPAIGNCODE = $code", {"code": code}).fetchone()[0]


def deleted_at(database: Path, code: str):
    registry = DuckDBDeployment(DuckDBWarehouse(database)).registry()
    return registry.filter(pl.col("campaign_code") == code)["deleted_at"][0]


def land(data_dir: Path, name: str, data: bytes, age_s: float = 60) -> Path:
    """A file in landing/commands, older than the quiet period (oldest first by ``age_s``)."""
    folder = data_dir / "landing" / "commands"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def land_delete(data_dir: Path, code: str, age_s: float = 60) -> Path:
    """A delete command as the ingress's DELETE /campaigns/{code} writes it (name and body)."""
    now = datetime.now(UTC)
    command = {"command": "delete", "campaign_code": code, "requested_at": now.isoformat()}
    name = f"delete-{code}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    return land(data_dir, name, orjson.dumps(command), age_s)


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    return {
        "warehouse": DuckDBWarehouseResource(
            database=str(tmp_path / "warehouse.duckdb"),
            reference_config_path=str(default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(tmp_path)),
    }


def tick(resources: dict, instance: dg.DagsterInstance) -> dg.SensorResult:
    with dg.build_sensor_context(resources={"campaign_data": resources["campaign_data"]},
                                 instance=instance) as context:
        return command_arrivals_sensor(context)


def apply(request: dg.RunRequest, resources: dict, instance: dg.DagsterInstance):
    result = apply_commands_job.execute_in_process(
        run_config=request.run_config, resources=resources, instance=instance,
        tags=request.tags, raise_on_error=False)
    [output] = [e for e in result.all_events if e.is_successful_output]
    reports = output.event_specific_data.metadata["commands"].value
    return result, reports


def test_every_command_has_its_handler_and_the_step_takes_the_warehouse_pool():
    assert set(HANDLERS) == set(COMMAND_NAMES)
    assert apply_commands.pool == "warehouse"  # as the deployment steps: never interleaved


def test_a_delete_command_removes_the_campaign_and_its_file_is_archived(resources, tmp_path):
    database = tmp_path / "warehouse.duckdb"
    code = deploy(database, "spring")
    path = land_delete(tmp_path, code)
    with dg.instance_for_test() as instance:
        answer = tick(resources, instance)
        [request] = answer.run_requests
        assert request.run_config["ops"][OP_NAME]["config"]["files"][0]["path"] == str(path)
        assert json.loads(answer.cursor)["last_tick"]["requested"] == 1
        assert tick(resources, instance).run_requests[0].run_key == request.run_key  # once
        result, [report] = apply(request, resources, instance)
        assert result.success
        assert report["outcome"] == "deleted" and report["campaign"] == code
        assert report["rows_removed"]["dssb_ocds.mb22_local_target"] == 2
        assert "C00000" in report["message"] and "kept as Deleted" in report["message"]
        assert target_rows(database, code) == 0 and deleted_at(database, code) is not None
        assert not path.exists() and (path.parent / "archive" / path.name).exists()
        quiet = tick(resources, instance)
        assert quiet.run_requests == [] and "no new file" in quiet.skip_reason.skip_message


def test_a_delete_of_an_unknown_campaign_is_refused_and_the_next_command_still_applies(
    resources, tmp_path
):
    database = tmp_path / "warehouse.duckdb"
    code = deploy(database, "spring")
    unknown = land_delete(tmp_path, "C000000999", age_s=90)
    known = land_delete(tmp_path, "spring", age_s=60)  # by its key, after the unknown one
    with dg.instance_for_test() as instance:
        [request] = tick(resources, instance).run_requests
        files = request.run_config["ops"][OP_NAME]["config"]["files"]
        assert [f["path"] for f in files] == [str(unknown), str(known)]  # arrival order
        result, reports = apply(request, resources, instance)
    assert result.success
    assert [(r["outcome"], r["campaign"]) for r in reports] == [
        ("refused", "C000000999"), ("deleted", code)]
    error = json.loads((unknown.parent / "rejected" / f"{unknown.name}.error.json").read_text())
    assert error["problems"][0]["field"] == "campaign_code"
    assert "no campaign C000000999" in error["problems"][0]["problem"]
    assert (known.parent / "archive" / known.name).exists()
    assert target_rows(database, code) == 0


def test_a_second_delete_of_the_same_campaign_is_no_error(resources, tmp_path):
    database = tmp_path / "warehouse.duckdb"
    code = deploy(database, "spring")
    land_delete(tmp_path, code, age_s=90)
    land_delete(tmp_path, code, age_s=60)
    with dg.instance_for_test() as instance:
        [request] = tick(resources, instance).run_requests
        result, reports = apply(request, resources, instance)
    assert result.success
    assert [r["outcome"] for r in reports] == ["deleted", "already_deleted"]
    assert len(list((tmp_path / "landing/commands/archive").glob("*.json"))) == 2


GOOD = {"command": "delete", "campaign_code": "C000000001",
        "requested_at": "2026-11-30T01:20:05+00:00"}


@pytest.mark.parametrize(("data", "field", "words"), [
    (orjson.dumps({**GOOD, "reason": "typo"}), "reason", "Extra inputs"),
    (b'{"command": "delete", "campaign_code": ', "<document>", "Expecting value"),
    (b'{"command": "delete", "campaign_code": "C000000001", "campaign_code": "C000000002", '
     b'"requested_at": "2026-11-30T01:20:05Z"}', "campaign_code", "given twice"),
    (b"", "<document>", "empty"),
    (orjson.dumps({**GOOD, "command": "pause"}), "command", "not a command"),
    (orjson.dumps({**GOOD, "requested_at": "2026-11-30T01:20:05"}), "requested_at", "timezone"),
    (orjson.dumps({**GOOD, "campaign_code": "C1/../x"}), "campaign_code", "not a campaign code"),
], ids=["unknown field", "bad JSON", "duplicate key", "empty", "unknown command",
        "naive time", "bad code"])
def test_a_file_that_is_no_command_is_rejected_naming_the_field(
    resources, tmp_path, data, field, words
):
    land(tmp_path, "bad.json", data)
    with dg.DagsterInstance.ephemeral() as instance:
        answer = tick(resources, instance)
    assert answer.run_requests == []
    skip = answer.skip_reason.skip_message
    assert "bad.json.error.json" in skip
    error = json.loads((tmp_path / "landing/commands/rejected/bad.json.error.json").read_text())
    assert error["problems"][0]["field"] == field
    assert words in error["problems"][0]["problem"]
    assert error["problems"][0]["fix"]


def test_new_commands_wait_while_an_earlier_commands_run_is_going(resources, tmp_path):
    land_delete(tmp_path, "C000000001")
    with dg.instance_for_test() as instance:
        going = instance.create_run_for_job(apply_commands_job,
                                            status=dg.DagsterRunStatus.STARTED)
        answer = tick(resources, instance)
        assert answer.run_requests == []
        assert f"run {going.run_id} applies earlier commands first" in (
            answer.skip_reason.skip_message)
        instance.report_run_failed(going)
        assert len(tick(resources, instance).run_requests) == 1


def test_run_pending_applies_a_pending_command(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(data))
    database = data / "warehouse.duckdb"
    code = deploy(database, "spring")
    path = land_delete(data, code)
    assert main(["run-pending"]) == 0
    out = capsys.readouterr().out
    assert f": deleted: campaign {code} removed from every table" in out
    assert target_rows(database, code) == 0
    assert (path.parent / "archive" / path.name).exists()
    land_delete(data, "C000000999", age_s=30)
    assert main(["run-pending"]) == 2  # refused: the exit code says so
    assert "refused: no campaign C000000999" in capsys.readouterr().out


def test_campaigns_delete_finds_a_campaign_by_its_key_and_twice_is_no_error(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(data))
    code = deploy(data / "warehouse.duckdb", "spring")
    capsys.readouterr()
    assert main(["delete", "spring"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["campaign_code"], first["outcome"]) == (code, "deleted")
    assert main(["delete", code]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "already_deleted"
    assert main(["delete", "nobody"]) == 2


def test_the_ordering_stamp_of_a_command_is_its_arrival(resources, tmp_path):
    """Files apply oldest first whatever their requested_at says (arrival order)."""
    later = {**GOOD, "requested_at": (NOW - timedelta(days=1)).isoformat()}
    first = land(tmp_path, "b.json", orjson.dumps({**GOOD, "campaign_code": "C000000002"}), 90)
    second = land(tmp_path, "a.json", orjson.dumps(later), 60)
    with dg.DagsterInstance.ephemeral() as instance:
        [request] = tick(resources, instance).run_requests
    paths = [f["path"] for f in request.run_config["ops"][OP_NAME]["config"]["files"]]
    assert paths == [str(first), str(second)]
