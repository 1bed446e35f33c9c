"""The legacy campaigns API on the ingress: requests land in landing/campaigns, deletes in
landing/commands; reads answer what `campaigns list`, `show` and `next-code` print, from a
real DuckDB file the ingress opens read-only for each request."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from campaign_pipelines import campaign_reads
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment
from campaign_pipelines.core.deployment import (
    METADATA_TABLE,
    dictionary_rows,
    polars_schema,
    tables_to_write,
)
from campaign_pipelines.core.requests import parse_request, request_version
from campaign_pipelines.defs.settings import Settings
from campaign_pipelines.demo.landing_samples import SEED_EXAMPLE_RB1
from campaign_pipelines.ingress.settings import IngressSettings
from campaign_pipelines_tests.bank import SEED_REQUEST, request_text
from campaign_pipelines_tests.ingress.server import TOKEN, Ingress

# On one xdist worker, one after another, with the other modules that use the package's
# `ingress` (ingress/conftest.py): each shared server then starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("ingress")


def test_create_lands_the_request_under_its_campaign_key_once(ingress):
    request = {**SEED_EXAMPLE_RB1, "metadata": {**SEED_EXAMPLE_RB1["metadata"],
                                                "campaign_name": "Ingress Spring Push"}}
    first = ingress.post("/campaigns/create", request)
    assert first.status_code == 202, first.text
    assert first.json() == {"status": "accepted", "campaign_key": "ingress_spring_push"}
    landed = ingress.landing / "campaigns" / "ingress_spring_push.json"
    assert json.loads(landed.read_bytes()) == request
    assert ingress.post("/campaigns/create", request).status_code == 202  # a resend: same file
    changed = {**request, "user_iins": ["123456789012"]}
    conflict = ingress.post("/campaigns/create", changed)
    assert conflict.status_code == 409 and "still waiting" in conflict.json()["message"]
    assert json.loads(landed.read_bytes()) == request


def test_create_refuses_a_bad_request_and_writes_nothing(ingress):
    bad = {**SEED_EXAMPLE_RB1, "campaign_type": "RB9", "mau_onyl": True}
    answer = ingress.post("/campaigns/create", bad)
    assert answer.status_code == 422
    assert {p["field"] for p in answer.json()["problems"]} >= {"campaign_type", "mau_onyl"}
    assert ingress.client.post("/campaigns/create", json=SEED_EXAMPLE_RB1).status_code == 401
    assert not list((ingress.landing / "campaigns").glob("spring*"))


def test_delete_lands_a_command(ingress):
    assert ingress.client.delete("/campaigns/C000000123").status_code == 401
    headers = {"Authorization": ingress.post_headers()["Authorization"]}
    answer = ingress.client.delete("/campaigns/C000000123", headers=headers)
    assert answer.status_code == 202, answer.text
    command = json.loads((ingress.landing / "commands" / answer.json()["file"]).read_bytes())
    assert (command["command"], command["campaign_code"]) == ("delete", "C000000123")


def test_delete_refuses_a_code_with_a_final_newline(ingress):
    headers = {"Authorization": ingress.post_headers()["Authorization"]}
    answer = ingress.client.delete("/campaigns/C000000124%0A", headers=headers)
    assert answer.status_code == 422 and answer.json()["problems"][0]["field"] == "campaign_code"
    assert not list((ingress.landing / "commands").glob("delete-C000000124*"))


# --- reads -----------------------------------------------------------------------------------

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _deploy(path: Path, name: str) -> str:
    """A campaign deployed as a run leaves it (registry, ledger, its tables), written straight
    to the warehouse: the reads only look at what is stored, not at how it got there."""
    request = parse_request(request_text(metadata={**SEED_REQUEST["metadata"],
                                                   "campaign_name": name}))
    deployment = DuckDBDeployment(DuckDBWarehouse(path))
    codes = deployment.allocate_codes(name.lower().replace(" ", "_"), request)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    for table in tables_to_write(request):
        if table in METADATA_TABLE.values():
            rows = dictionary_rows(table, request, codes, loaded_at)
        else:
            rows = pl.DataFrame(schema=polars_schema(table))
        deployment.replace_campaign_rows(table, codes.campaign_code, rows,
                                         request_version(request))
    return codes.campaign_code


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory):
    """An ingress over a warehouse with three campaigns, one of them deleted. Its reads wait
    at most 0.2 s for a writer's lock (CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S, below the ingress's
    own 1 s bound), so a read of a locked file answers 503 without a second's wait."""
    data_dir = tmp_path_factory.mktemp("reads") / "data"
    database = data_dir / "warehouse.duckdb"
    codes = [_deploy(database, name) for name in ("Spring Push", "Summer Push", "Autumn Push")]
    DuckDBDeployment(DuckDBWarehouse(database)).delete_campaign(codes[1])
    server = Ingress(data_dir, CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S="0.2")
    server.codes = codes
    yield server
    server.stop()


def _printed(server: Ingress, read, *args, **kwargs) -> object:
    deployment = DuckDBDeployment(DuckDBWarehouse(server.data_dir / "warehouse.duckdb"))
    return json.loads(campaign_reads.as_json(read(deployment, *args, **kwargs)))


def test_list_and_show_answer_what_the_cli_prints(reads):
    spring, deleted, autumn = reads.codes
    listing = reads.client.get("/campaigns", headers=AUTH)
    assert listing.status_code == 200, listing.text
    assert listing.json() == _printed(reads, campaign_reads.campaigns_page)
    assert [c["campaign_code"] for c in listing.json()["campaigns"]] == [autumn, spring]
    assert listing.json()["campaigns"][0]["deployment"]["state"] == "deployed"
    for query, options in (
        ({"type": "RB1", "limit": "1", "offset": "1"},
         {"campaign_type": "RB1", "limit": 1, "offset": 1}),
        ({"include_deleted": "true", "type": "rb1"},
         {"include_deleted": True, "campaign_type": "RB1"}),
        ({"type": "RB3"}, {"campaign_type": "RB3"}),
    ):
        for path in ("/campaigns", "/campaigns/list"):
            answer = reads.client.get(path, params=query, headers=AUTH)
            assert answer.status_code == 200, answer.text
            assert answer.json() == _printed(reads, campaign_reads.campaigns_page, **options)
    shown = reads.client.get(f"/campaigns/{deleted}", headers=AUTH)
    assert shown.status_code == 200, shown.text
    assert shown.json() == _printed(reads, campaign_reads.campaign_shown, deleted)
    assert shown.json()["status"] == "Deleted"
    log = reads.log.read_text()
    assert "include_deleted" not in log and "Spring Push" not in log


def test_next_code_previews_what_the_next_allocation_gives_and_allocates_nothing(reads):
    expected = _printed(reads, campaign_reads.next_code_preview, "RB1")
    del expected["generated_at"]  # the time of the answer
    for path in ("/campaigns/next-code?type=RB1", "/campaigns/next-code?type=rb1",
                 "/campaigns/codes/next-rb1", "/campaigns/next-code?type=RB1"):
        answer = reads.client.get(path, headers=AUTH)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert datetime.fromisoformat(body.pop("generated_at")).tzinfo is not None
        assert body == expected
    rb3 = reads.client.get("/campaigns/codes/next-rb3", headers=AUTH).json()
    assert rb3["campaign_type"] == "RB3" and rb3["xls_ow_id"].startswith("KKB_")
    assert rb3["campaign_code"] == expected["campaign_code"]
    # The file is not held between requests: a writer opens it at once, and gets that code.
    with duckdb.connect(str(reads.data_dir / "warehouse.duckdb")):
        pass
    allocated = _deploy(reads.data_dir / "warehouse.duckdb", "Winter Push")
    assert allocated == expected["campaign_code"]
    after = reads.client.get("/campaigns/next-code", params={"type": "RB1"}, headers=AUTH)
    assert after.json()["campaign_code"] > allocated


def test_reads_refuse_what_they_cannot_answer_and_name_it(reads):
    assert reads.client.get("/campaigns").status_code == 401
    assert reads.client.get(f"/campaigns/{reads.codes[0]}").status_code == 401
    assert reads.client.get("/campaigns/next-code?type=RB1").status_code == 401
    unknown = reads.client.get("/campaigns/C999999999", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["problems"] == [{"field": "campaign_code",
                                           "problem": "no campaign C999999999",
                                           "fix": "see campaigns list"}]
    for path, params, field in (
        ("/campaigns", {"type": "RB9"}, "type"),
        ("/campaigns", {"limit": "-1"}, "limit"),
        ("/campaigns", {"limit": "1001"}, "limit"),
        ("/campaigns", {"limit": "ten"}, "limit"),
        ("/campaigns", {"offset": "-5"}, "offset"),
        ("/campaigns", {"include_deleted": "perhaps"}, "include_deleted"),
        ("/campaigns/list", {"limt": "5"}, "limt"),
        ("/campaigns", [("limit", "1"), ("limit", "2")], "limit"),
        ("/campaigns/next-code", {}, "type"),
        ("/campaigns/next-code", {"type": "RB9"}, "type"),
        ("/campaigns/codes/next-rb1", {"type": "RB3"}, "type"),
        ("/campaigns/C000000001%0A", {}, "campaign_code"),
    ):
        answer = reads.client.get(path, params=params, headers=AUTH)
        assert answer.status_code == 422, (path, params, answer.text)
        assert [p["field"] for p in answer.json()["problems"]] == [field], (path, params)


def test_a_read_while_another_process_writes_the_file_answers_503_at_once(reads):
    """DuckDB: a read-only open conflicts with a read-write connection of another process
    (here the test's, the ingress being its own process); readers do not conflict."""
    database = str(reads.data_dir / "warehouse.duckdb")
    with duckdb.connect(database):
        started = time.monotonic()
        for path in ("/campaigns", f"/campaigns/{reads.codes[0]}", "/campaigns/codes/next-rb1"):
            answer = reads.client.get(path, headers=AUTH)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "5"
            problem = answer.json()["problems"][0]
            assert problem["field"] == "<warehouse>"
            assert "locked by" in problem["problem"] and "(PID " in problem["problem"]
            assert "again in a few seconds" in problem["fix"]
        assert time.monotonic() - started < 3 * 3  # one bounded wait each, no hang
    with duckdb.connect(database, read_only=True):
        assert reads.client.get("/campaigns", headers=AUTH).status_code == 200
    assert reads.client.get("/campaigns", headers=AUTH).status_code == 200


def test_a_data_dir_without_a_warehouse_is_named_and_an_empty_one_reads_as_empty(
    tmp_path, start_ingress
):
    server = start_ingress(tmp_path / "data")
    missing = server.client.get("/campaigns", headers=AUTH)
    assert missing.status_code == 503 and missing.headers["Retry-After"] == "5"
    assert "no warehouse file" in missing.json()["problems"][0]["problem"]
    database = tmp_path / "data" / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:  # what `db init` of the sources leaves
        connection.execute("CREATE SCHEMA sources")
    before = database.read_bytes()
    listing = server.client.get("/campaigns", headers=AUTH)
    assert listing.status_code == 200, listing.text
    assert listing.json() == {"campaigns": [], "total_count": 0, "rb1_count": 0, "rb3_count": 0}
    preview = server.client.get("/campaigns/codes/next-rb3", headers=AUTH).json()
    assert server.client.get("/campaigns/C000000001", headers=AUTH).status_code == 404
    assert database.read_bytes() == before  # read-only: nothing created, nothing written
    printed = _printed(server, campaign_reads.next_code_preview, "RB3")
    assert {k: preview[k] for k in ("campaign_code", "xls_ow_id")} == {
        k: printed[k] for k in ("campaign_code", "xls_ow_id")}
    assert listing.json() == _printed(server, campaign_reads.campaigns_page)


def test_a_worker_loads_the_warehouse_driver_on_its_first_read_and_never_dagster(tmp_path):
    code = ("import sys\n"
            "from fastapi.testclient import TestClient\n"
            "from campaign_pipelines.ingress.app import create_app\n"
            "from campaign_pipelines.ingress.settings import IngressSettings\n"
            f"app = create_app(IngressSettings(ingress_token='t', data_dir={str(tmp_path)!r}))\n"
            "with TestClient(app) as client:\n"
            "    print('duckdb' in sys.modules)\n"
            "    answer = client.get('/campaigns', headers={'Authorization': 'Bearer t'})\n"
            "    print(answer.status_code, 'duckdb' in sys.modules, 'dagster' in sys.modules)\n")
    env = {"CAMPAIGN_DATA_DIR": str(tmp_path)}
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, **env})
    assert loaded.stdout.split() == ["False", "503", "True", "False"]


def test_the_reader_is_the_warehouse_the_settings_choose_opened_for_reading(
    tmp_path, monkeypatch
):
    settings = Settings(data_dir=tmp_path, duckdb_lock_timeout_s=300)
    ingress = IngressSettings(ingress_token="t")
    duck = campaign_reads.read_only_deployment(settings, lock_wait_s=1.0, ingress=ingress)
    assert isinstance(duck, DuckDBDeployment)
    assert duck.warehouse.read_only and duck.warehouse.lock_timeout_s == 1.0
    assert duck.warehouse.path == settings.database
    oracle = settings.model_copy(update={"warehouse": "oracle"})
    for name in campaign_reads.ORACLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORACLE_DSN", "db:1521/free")
    with pytest.raises(campaign_reads.Unavailable, match="ORACLE_USER, ORACLE_PASSWORD not set"):
        campaign_reads.read_only_deployment(oracle, lock_wait_s=1.0,
                                            ingress=IngressSettings(ingress_token="t"))
    monkeypatch.setenv("ORACLE_USER", "campaigns")
    monkeypatch.setenv("ORACLE_PASSWORD", "never-shown")
    reader = campaign_reads.read_only_deployment(oracle, lock_wait_s=1.0,
                                                 ingress=IngressSettings(ingress_token="t"))
    assert isinstance(reader, OracleDeployment) and reader.warehouse.dsn == "db:1521/free"
