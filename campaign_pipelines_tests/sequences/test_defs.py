"""The sequences assets and sensors through Dagster, on real DuckDB files: one tick admits every
arrived file into one run; the due sensor asks for a send only when something is due; two
full runs (admission, sending)."""

import email
import json
import os
import time
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.sequence_store import LEDGER, SequenceStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.resources import (
    AlertsResource,
    CampaignDataResource,
    DuckDBWarehouseResource,
    EmailProviderResource,
    SequencesResource,
    TrackingResource,
)
from campaign_pipelines.defs.sequences import assets
from campaign_pipelines.defs.sequences.sensors import sequence_sensors
from campaign_pipelines_tests.sequences.test_core import record

arrivals_sensor, due_sensor = sequence_sensors(running=True)
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    return {
        "warehouse": DuckDBWarehouseResource(database=str(tmp_path / "warehouse.duckdb"),
                                             reference_config_path=str(
                                                 default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(tmp_path)),
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "assets")),
        "sequences": SequencesResource(timing="testing", unsubscribe_secret="s3cret"),
        "email_provider": EmailProviderResource(outbox_dir=str(tmp_path / "outbox")),
        "alerts": AlertsResource(),
        "tracking": TrackingResource(),
    }


def landed(resources, kind: str, name: str, lines: list[str]) -> Path:
    zone = resources["campaign_data"].landing()
    path = zone.write_atomic(kind, name, ("\n".join(lines) + "\n").encode())
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def tick(sensor, resources, instance, names):
    with dg.build_sensor_context(resources={k: resources[k] for k in names},
                                 instance=instance) as context:
        return sensor(context)


def test_one_tick_one_run_then_seven_emails_per_enrolled_address(resources, tmp_path):
    landed(resources, "signups", "a.jsonl", [
        record("crit@x.org", NOW, red=2), record("urg@x.org", NOW, red=1),
        record("crit@X.org", NOW + timedelta(seconds=1))])  # a duplicate
    landed(resources, "signups", "b.jsonl", [record("opt@x.org", NOW, orange=1),
                                             record("gone@x.org", NOW), '{"bad": 1}'])
    landed(resources, "signups", "junk.jsonl", ["not json"])
    landed(resources, "unsubscribes", "junk.jsonl", ['{"address_key": "x@x.org"}'])
    landed(resources, "unsubscribes", "u.jsonl", [json.dumps(
        {"address_key": "gone@x.org", "received_at": NOW.isoformat(), "source": "link"})])
    with dg.DagsterInstance.ephemeral() as instance:
        answer = tick(arrivals_sensor, resources, instance, ("campaign_data", "sequences"))
        [request] = answer.run_requests
        assert json.loads(answer.cursor)["last_tick"] == {
            "requested": 1, "rejected": 2, "waiting": 0, "in_flight": 0}
        assert (tmp_path / "landing/signups/rejected/junk.jsonl.error.json").exists()
        assert (tmp_path / "landing/unsubscribes/rejected/junk.jsonl.error.json").exists()
        files = request.run_config["ops"]
        assert len(files["sequences__signups"]["config"]["files"]) == 2
        assert len(files["sequences__suppressions"]["config"]["files"]) == 1
        quiet = tick(due_sensor, resources, instance, ("warehouse", "campaign_data", "sequences"))
        assert "nothing is planned" in quiet.skip_reason.skip_message

        result = dg.materialize(
            [assets.signups, assets.enrollments, assets.suppressions], resources=resources,
            run_config=request.run_config, instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("sequences__enrollments")[0].metadata
        assert metadata["enrolled_now"].value == 4 and metadata["duplicates_now"].value == 1
        assert metadata["enrolled_now_per_segment"].value == {
            "CRITICAL": 1, "OPTIMIZE": 2, "URGENT": 1}
        assert "crit@x.org" not in str(metadata["sample"].value)
        signups_meta = result.asset_materializations_for_node("sequences__signups")[0].metadata
        assert signups_meta["refused_lines"].value == 1
        assert not list((tmp_path / "landing/signups").glob("*.jsonl"))  # all taken

        # A send run still canceling is still sending: no second run beside it.
        canceling = dg.DagsterRun(job_name="send_due_emails_job",
                                  status=dg.DagsterRunStatus.CANCELING)
        instance.add_run(canceling)
        held = tick(due_sensor, resources, instance, ("warehouse", "campaign_data", "sequences"))
        assert held.skip_reason.skip_message == f"run {canceling.run_id} is sending"
        instance.report_run_canceled(canceling)

        due = tick(due_sensor, resources, instance, ("warehouse", "campaign_data", "sequences"))
        [send] = due.run_requests
        assert send.run_key == f"send-due@{datetime.now(UTC):%Y-%m-%dT%H:%M}"
        later = (NOW + timedelta(minutes=7)).isoformat()
        sent = dg.materialize([assets.email_sequences], resources=resources, instance=instance,
                              run_config={"ops": {"sequences__email_sequences": {
                                  "config": {"now": later}}}},
                              selection=[assets.EMAIL_SEQUENCES_KEY])
        assert sent.success
        sent_meta = sent.asset_materializations_for_node("sequences__email_sequences")[0].metadata
        assert sent_meta["enrollments_tracked"].value == 4
        assert sent_meta["sent_per_email"].value == {f"email_{n}": 3 for n in range(1, 8)}
    outbox = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
              for p in (tmp_path / "outbox").glob("*.eml")]
    to = sorted(m["To"] for m in outbox)
    assert to == sorted(["crit@x.org", "urg@x.org", "opt@x.org"] * 7)
    store = SequenceStore(DuckDBWarehouse(tmp_path / "warehouse.duckdb"))
    ledger = store.table(LEDGER)
    assert ledger.group_by("state").len().sort("state").rows() == [("sent", 21),
                                                                    ("suppressed", 7)]
    assert ledger.filter(pl.col("address_key") == "gone@x.org")["state"].unique().to_list() == [
        "suppressed"]
    alert = store.table("campaign_ops.enrollments", "crit@x.org")["alert_state"][0]
    assert alert == "skipped"  # no ALERT_WEBHOOK_URL


def test_a_file_whose_batch_run_failed_is_rejected_naming_the_run(resources, tmp_path):
    landed(resources, "signups", "a.jsonl", [record("a@x.org", NOW)])
    broken = tmp_path / "broken_sequences"
    broken.mkdir()
    (broken / "christmas.yaml").write_text("sequence: christmas\nemails: []\n")
    with dg.instance_for_test() as instance:
        [request] = tick(arrivals_sensor, resources, instance,
                         ("campaign_data", "sequences")).run_requests
        again = tick(arrivals_sensor, resources, instance, ("campaign_data", "sequences"))
        assert again.run_requests[0].run_key == request.run_key  # Dagster runs a key once
        failed = dg.materialize(
            [assets.signups, assets.enrollments, assets.suppressions],
            resources={**resources, "sequences": SequencesResource(
                timing="testing", definitions_dir=str(broken))},
            run_config=request.run_config, instance=instance, tags=request.tags,
            raise_on_error=False)
        assert not failed.success
        answer = tick(arrivals_sensor, resources, instance, ("campaign_data", "sequences"))
        assert answer.run_requests == []
        error = json.loads((tmp_path / "landing/signups/rejected/a.jsonl.error.json").read_text())
        assert failed.run_id in error["problems"][0]["problem"]
