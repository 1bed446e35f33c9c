"""sms_runner_schedule and the runner's step (sms/sends, sms/campaign_metrics) on real DuckDB
files with the outbox provider: nothing before start_at; after it Scheduled → Active →
Completed with every valid prospect texted once; a campaign whose list has no phone column
stays Scheduled and fails the run naming it, while the others send; prospects of a campaign
code through the reference config's phones SQL."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.test_utils import create_run_for_test

from campaign_pipelines.adapters.reference_config import (
    ReferenceConfig,
    default_config_path,
    load_reference_config,
)
from campaign_pipelines.adapters.sms_prospects import ProspectSource
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.defs.sms import metrics, runner
from campaign_pipelines.defs.sms.schedules import runner_schedule
from campaign_pipelines.defs.sms.sensors import sms_sensors
from campaign_pipelines_tests.sms.defs.common import (
    AFTER,
    BEFORE,
    VALID,
    campaign_text,
    outbox,
    resources,
    store,
    upload,
)

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def _create(root: Path, text: str) -> None:
    parsed = parse_campaign(text.encode(), "c.json", now=NOW, stop_hint="Отказ: STOP")
    store(root).put_campaign(parsed, NOW)


def _run(root: Path, instance, now: str, **config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [runner.sends, metrics.campaign_metrics], resources=resources(root), instance=instance,
        run_config={"ops": {"sms__sends": {"config": {"now": now, **config}}}},
        raise_on_error=False)


def test_the_schedule_requests_one_run_a_minute_and_skips_while_one_is_going():
    schedule = runner_schedule(running=True)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert runner_schedule(running=False).default_status == dg.DefaultScheduleStatus.STOPPED
    assert {s.default_status for s in sms_sensors(running=False)} == {
        dg.DefaultSensorStatus.STOPPED}  # with Oracle, where SMS state does not live
    at = datetime(2026, 12, 1, 4, 7, 30, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
        [request] = schedule.evaluate_tick(context).run_requests
        assert request.run_key == "sms-runner@2026-12-01T04:07"
        going = create_run_for_test(instance, job_name="sms_runner_job",
                                    status=dg.DagsterRunStatus.STARTED)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
        skipped = schedule.evaluate_tick(context)
        assert skipped.run_requests == [] and going.run_id in skipped.skip_message


def test_nothing_before_start_then_every_valid_prospect_once_and_completed(tmp_path):
    upload(tmp_path)
    _create(tmp_path, campaign_text())
    with dg.instance_for_test() as instance:
        early = _run(tmp_path, instance, BEFORE)
        assert early.success and outbox(tmp_path) == []
        assert store(tmp_path).status("dec") == "Scheduled"

        result = _run(tmp_path, instance, AFTER)
        assert result.success
        meta = result.asset_materializations_for_node("sms__sends")[0].metadata
        assert meta["commands"].value == {"dec": "start"}
        assert meta["prospects"].value["dec"]["invalid"] == 1
        assert meta["prospects"].value["dec"]["duplicate"] == 1
        [report] = meta["campaigns"].value
        assert report["sent"] == 3 and report["status"] == "Completed"
        metrics = result.asset_materializations_for_node("sms__campaign_metrics")[0].metadata
        assert metrics["dec/sent"].value == 3 and metrics["dec/status"].value == "Completed"
        assert metrics["dec/last_run_result"].value == "sent 3 of 3"

        again = _run(tmp_path, instance, AFTER)
        assert again.success
    sent = outbox(tmp_path)
    assert sorted(m["to"] for m in sent) == VALID  # once each, the duplicate and 12345 not
    assert {m["campaign"] for m in sent} == {"dec"}
    assert all(m["idempotency_key"].startswith("sms-") and "Отказ: STOP" in m["body"]
               for m in sent)
    assert "Айгерим, кэшбэк 5%!" in {m["body"].split(" Отказ")[0] for m in sent}
    campaign = store(tmp_path).campaign("dec")
    assert campaign["status"] == "Completed" and campaign["completed_at"] is not None


def test_a_dry_run_changes_nothing_and_the_evening_run_waits_for_the_window(tmp_path):
    upload(tmp_path)
    _create(tmp_path, campaign_text())
    with dg.instance_for_test() as instance:
        dry = _run(tmp_path, instance, AFTER, dry_run=True)
        meta = dry.asset_materializations_for_node("sms__sends")[0].metadata
        assert meta["commands"].value == {"dec": "start"}
        assert meta["prospects"].value["dec"]["valid"] == 3
        assert store(tmp_path).status("dec") == "Scheduled"

        evening = _run(tmp_path, instance, "2026-12-01T21:30:00+05:00")
        [report] = evening.asset_materializations_for_node("sms__sends")[0].metadata[
            "campaigns"].value
    assert report["sent"] == 0 and report["stopped_because"] == "quiet_hours"
    assert report["next_opening"] == "2026-12-02T04:00:00+00:00"  # 09:00 in Almaty
    assert report["left_queued"] == 3 and outbox(tmp_path) == []


def test_a_list_without_a_phone_column_fails_the_run_naming_it_the_others_send(tmp_path):
    upload(tmp_path)
    upload(tmp_path, "late.csv", "first_name\nАйгерим\n")  # replaced after admission
    _create(tmp_path, campaign_text())
    _create(tmp_path, campaign_text("late", prospects={"upload": "late.csv"}))
    with dg.instance_for_test() as instance:
        result = _run(tmp_path, instance, AFTER)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    said = failure.step_failure_data.user_failure_data.description
    assert "late" in said and "no phone column" in said and "first_name" in said
    assert store(tmp_path).status("late") == "Scheduled"
    assert store(tmp_path).status("dec") == "Completed"
    assert len(outbox(tmp_path)) == 3


def _bank(root: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(root / "bank.duckdb")
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("""
            CREATE SCHEMA dssb_ocds; CREATE SCHEMA sources;
            CREATE TABLE dssb_ocds.mb22_local_target (
                CAMPAIGNCODE VARCHAR, IIN VARCHAR, LOAD_DATE TIMESTAMP);
            CREATE TABLE sources.client_phones (iin VARCHAR, phone VARCHAR);
            INSERT INTO dssb_ocds.mb22_local_target VALUES
                ('C000000123', '850315300011', now()), ('C000000123', '850315300022', now()),
                ('C000000123', '850315300033', now()), ('C000000123', '850315300044', now()),
                ('C000000999', '850315300011', now());
            INSERT INTO sources.client_phones VALUES
                ('850315300011', '+77012345601'), ('850315300011', '8 701 234 56 09'),
                ('850315300022', '8 (701) 234-56-02'), ('850315300033', '7 (727) 258-00-00');
        """)
    return warehouse


def test_prospects_of_a_campaign_code_through_the_phones_sql(tmp_path):
    source = ProspectSource(tmp_path, _bank(tmp_path),
                            load_reference_config(default_config_path("duckdb")))
    found = source.from_campaign_code("dec", "C000000123")
    assert found.prospects.rows["phone_e164"].to_list() == ["+77012345601", "+77012345602"]
    assert found.counts == {"rows": 4, "valid": 2, "invalid": 1, "duplicate": 1,
                            "without_phone": 1}  # 044 has none; 033's is a landline
    assert "cannot receive SMS" in found.problems[0]["problem"]
    assert found.prospects.rows["idempotency_key"].n_unique() == 2
    with pytest.raises(ProblemsError, match="C000000777 has no rows"):
        source.from_campaign_code("dec", "C000000777")
    bare = ReferenceConfig(Path("refs.yaml"), {}, {}, None)
    with pytest.raises(ProblemsError, match="refs.yaml has no 'phones:'"):
        ProspectSource(tmp_path, source.warehouse, bare).from_campaign_code("dec", "C000000123")
