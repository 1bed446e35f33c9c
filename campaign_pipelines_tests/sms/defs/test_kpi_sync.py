"""The KPI sync of sms/campaign_metrics (SMS_KPI_SYNC) against a loopback fake of Airtable's
records API, on a real DuckDB file: 23 campaigns upserted on Name in 3 requests; a second run
sends only what changed and never duplicates; a 429 waited, a 500 three times reported
without failing the step, a bad token named; a missing setting a warning; none and warehouse
call nothing."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from campaign_pipelines.adapters.airtable import AirtableKpis, SyncReport
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.defs.settings import Settings
from campaign_pipelines.defs.sms import metrics
from campaign_pipelines.defs.sms.resources import SmsResource, sms_resource
from campaign_pipelines_tests.fakes.airtable_api import BASE, TABLE, TOKEN, FakeAirtable
from campaign_pipelines_tests.fakes.json_http import JsonServer
from campaign_pipelines_tests.sms.defs.common import campaign_text, resources, store

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
NAMES = [f"c{n:02d}" for n in range(1, 24)]


@pytest.fixture
def airtable() -> Iterator[tuple[FakeAirtable, JsonServer]]:
    fake = FakeAirtable()
    with JsonServer(fake) as server:
        yield fake, server


def _campaigns(root: Path, names: list[str] = NAMES) -> None:
    for name in names:
        parsed = parse_campaign(campaign_text(name).encode(), f"{name}.json", now=NOW,
                                stop_hint="Отказ: STOP")
        store(root).put_campaign(parsed, NOW)


def _counters(root: Path, name: str, sent: int, delivered: int) -> None:
    """What the runner and the receipts write, straight into sms_campaigns."""
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        connection.execute(
            "UPDATE campaign_ops.sms_campaigns SET status = 'Active', sent = ?, delivered = ?, "
            "delivery_rate = round(100.0 * ? / ?, 2), last_run_at = ?, "
            "last_run_result = ? WHERE name = ?",
            [sent, delivered, delivered, sent, NOW, f"sent {sent} of {sent}", name])


def _sms(root: Path, url: str = "http://127.0.0.1:9", **changes) -> SmsResource:
    fields = {"outbox_dir": str(root / "outbox" / "sms"), "kpi_sync": "airtable",
              "airtable_token": TOKEN, "airtable_base_id": BASE, "airtable_table": TABLE,
              "airtable_base_url": url, "kpi_sync_dir": str(root / "sms_kpi_sync"),
              "airtable_retry_wait_s": 0.01, "airtable_rate_limit_wait_s": 0.3}
    return SmsResource(**(fields | changes))


def _run(root: Path, sms: SmsResource) -> tuple[dict, list[str]]:
    """The step's metadata and its warnings; the step must succeed."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([metrics.campaign_metrics], resources=resources(root) | {"sms": sms},
                            instance=instance)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id)
                if entry.level == 30 and entry.user_message]
    return metadata, warnings


def _patches(server: JsonServer) -> list:
    return [request for request in server.requests if request.method == "PATCH"]


def test_23_campaigns_are_upserted_on_name_in_3_requests_of_at_most_10(tmp_path, airtable):
    fake, server = airtable
    _campaigns(tmp_path)
    _counters(tmp_path, "c01", sent=200, delivered=197)
    metadata, warnings = _run(tmp_path, _sms(tmp_path, server.url))
    requests = _patches(server)
    assert [len(r.body["records"]) for r in requests] == [10, 10, 3]
    assert {r.path for r in requests} == {f"/v0/{BASE}/{TABLE}"}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert all(r.body["performUpsert"] == {"fieldsToMergeOn": ["Name"]} for r in requests)
    assert sorted(fake.records) == NAMES
    assert fake.records["c01"]["fields"] == {
        "Name": "c01", "Status": "Active", "Total Sent": 200, "Delivered": 197, "Failed": 0,
        "Replies": 0, "Opt Outs": 0, "Delivery Rate": 0.985, "Opt-out Rate": 0.0,
        "Last Run At": "2026-11-30T04:00:00Z", "Last Run Result": "sent 200 of 200"}
    assert fake.records["c02"]["fields"]["Last Run At"] is None
    assert metadata["kpi_sync"] == f"airtable {BASE}/{TABLE} (full)"
    assert (metadata["kpi_sync.synced"], metadata["kpi_sync.failed"],
            metadata["kpi_sync.requests"], metadata["kpi_sync.error"]) == (23, 0, 3, "")
    assert warnings == []


def test_a_second_run_sends_what_changed_and_updates_never_duplicates(tmp_path, airtable):
    fake, server = airtable
    _campaigns(tmp_path)
    _run(tmp_path, _sms(tmp_path, server.url))
    ids = {name: record["id"] for name, record in fake.records.items()}
    _counters(tmp_path, "c05", sent=10, delivered=9)
    _counters(tmp_path, "c17", sent=20, delivered=20)
    server.requests.clear()
    metadata, _ = _run(tmp_path, _sms(tmp_path, server.url))
    [request] = _patches(server)
    assert [r["fields"]["Name"] for r in request.body["records"]] == ["c05", "c17"]
    assert (metadata["kpi_sync.synced"], metadata["kpi_sync.unchanged"]) == (2, 21)
    assert fake.records["c17"]["fields"]["Total Sent"] == 20
    # A lost marker (another data directory) sends every campaign again: updates only.
    server.requests.clear()
    metadata, _ = _run(tmp_path, _sms(tmp_path, server.url,
                                      kpi_sync_dir=str(tmp_path / "other")))
    assert metadata["kpi_sync.synced"] == 23 and len(_patches(server)) == 3
    assert {name: record["id"] for name, record in fake.records.items()} == ids


def test_a_429_is_waited_for_and_retried_within_the_step(tmp_path, airtable):
    fake, server = airtable
    _campaigns(tmp_path, NAMES[:4])
    fake.fail_next(1, status=429)
    metadata, warnings = _run(tmp_path, _sms(tmp_path, server.url))
    assert len(_patches(server)) == 2
    assert (metadata["kpi_sync.synced"], metadata["kpi_sync.failed"]) == (4, 0)
    assert sorted(fake.records) == NAMES[:4] and warnings == []


def test_a_500_three_times_is_reported_the_step_succeeds_and_the_next_run_syncs(
        tmp_path, airtable):
    fake, server = airtable
    _campaigns(tmp_path)
    fake.fail_next(3, status=500)
    metadata, warnings = _run(tmp_path, _sms(tmp_path, server.url))
    assert len(_patches(server)) == 3  # one batch, 3 attempts; then the sync stops
    assert (metadata["kpi_sync.synced"], metadata["kpi_sync.failed"]) == (0, 23)
    assert "HTTP 500: SERVER_ERROR" in metadata["kpi_sync.error"]
    assert fake.records == {}
    assert any("23 of 23 campaigns not synced" in w for w in warnings)
    metadata, _ = _run(tmp_path, _sms(tmp_path, server.url))
    assert (metadata["kpi_sync.synced"], metadata["kpi_sync.failed"]) == (23, 0)
    assert sorted(fake.records) == NAMES


def test_a_bad_token_is_reported_naming_airtable_token_and_stops_the_sync(tmp_path, airtable):
    fake, server = airtable
    _campaigns(tmp_path)
    wrong = "patWRONG.secret-value-123"
    metadata, warnings = _run(tmp_path, _sms(tmp_path, server.url, airtable_token=wrong))
    assert len(_patches(server)) == 1
    assert metadata["kpi_sync.failed"] == 23
    error = metadata["kpi_sync.error"]
    assert "HTTP 401: AUTHENTICATION_REQUIRED: Authentication required" in error
    assert "AIRTABLE_TOKEN" in error
    assert wrong not in str(metadata) and not any(wrong in w for w in warnings)
    assert fake.records == {}


@pytest.mark.parametrize(("changes", "named"), [
    ({"airtable_token": ""}, "AIRTABLE_TOKEN is not set"),
    ({"airtable_base_id": ""}, "CAMPAIGN_AIRTABLE_BASE_ID is not set"),
    ({"airtable_token": "", "airtable_table": ""},
     "AIRTABLE_TOKEN and CAMPAIGN_AIRTABLE_TABLE are not set")])
def test_a_missing_setting_is_a_warning_naming_it_and_nothing_is_sent(tmp_path, airtable,
                                                                       changes, named):
    _, server = airtable
    _campaigns(tmp_path, NAMES[:2])
    metadata, warnings = _run(tmp_path, _sms(tmp_path, server.url, **changes))
    assert server.requests == []
    assert named in metadata["kpi_sync.error"] and any(named in w for w in warnings)
    assert metadata["kpi_sync.failed"] == 2


@pytest.mark.parametrize(("kind", "said"), [
    ("none", "none"), ("warehouse", "warehouse: the counters are campaign_ops.sms_campaigns' "
                                    "columns")])
def test_none_and_warehouse_call_nothing(tmp_path, airtable, kind, said):
    _, server = airtable
    _campaigns(tmp_path, NAMES[:2])
    metadata, warnings = _run(tmp_path, _sms(tmp_path, server.url, kpi_sync=kind))
    assert server.requests == [] and warnings == []
    assert metadata["kpi_sync"] == said and "kpi_sync.synced" not in metadata


def test_a_refused_batch_fails_its_records_and_the_next_batch_is_tried(airtable):
    fake, server = airtable
    records = [{"Name": f"r{n}"} for n in range(15)]
    records[3]["Colour"] = "red"  # a field the table does not have: 422 for the first batch
    with AirtableKpis(TOKEN, BASE, TABLE, base_url=server.url, pace_s=0) as kpis:
        report = kpis.sync(records)
    assert isinstance(report, SyncReport)
    assert (len(report.synced), len(report.failed), report.requests) == (5, 10, 2)
    assert 'HTTP 422: UNKNOWN_FIELD_NAME: Unknown field name: "Colour"' in report.errors[0]
    assert sorted(fake.records) == [f"r{n}" for n in range(10, 15)]


def test_the_token_reaches_the_resource_only_through_env_var_when_airtable_is_chosen(
        monkeypatch):
    monkeypatch.setenv("AIRTABLE_TOKEN", TOKEN)
    chosen = sms_resource(Settings(sms_kpi_sync="airtable", airtable_base_id=BASE))
    assert chosen.airtable_token == dg.EnvVar("AIRTABLE_TOKEN")
    assert sms_resource(Settings(sms_kpi_sync="warehouse")).airtable_token == ""
    monkeypatch.delenv("AIRTABLE_TOKEN")
    assert sms_resource(Settings(sms_kpi_sync="airtable")).airtable_token == ""


def test_a_429_wait_past_the_sync_budget_is_not_waited_the_next_run_syncs(airtable):
    fake, server = airtable
    fake.fail_next(1, status=429)
    started = time.monotonic()
    with AirtableKpis(TOKEN, BASE, TABLE, base_url=server.url, rate_limit_wait_s=30.0,
                      budget_s=5.0) as kpis:
        report = kpis.sync([{"Name": "a"}, {"Name": "b"}])
    assert time.monotonic() - started < 2.0
    assert (report.synced, report.failed, report.requests) == ([], ["a", "b"], 1)
    assert "HTTP 429: RATE_LIMIT_REACHED" in report.errors[0]


def test_no_request_starts_after_the_sync_budget(airtable):
    _, server = airtable
    with AirtableKpis(TOKEN, BASE, TABLE, base_url=server.url, budget_s=0.0) as kpis:
        report = kpis.sync([{"Name": "a"}])
    assert (report.requests, report.failed, server.requests) == (0, ["a"], [])
    assert "the rest is left for the next run" in report.errors[0]
