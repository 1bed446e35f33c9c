"""landing/sms and landing/sms_events through their sensors and runs, on real DuckDB files:
one tick admits every good file into one run, refuses each bad one into rejected/ with an
.error.json naming the field; the run stores the campaign Scheduled and archives its file."""

import json
from datetime import UTC, datetime

import dagster as dg

from campaign_pipelines.core.sms.events import SmsEvent
from campaign_pipelines.defs.sms import assets
from campaign_pipelines.defs.sms.sensors import sms_sensors
from campaign_pipelines_tests.sms.defs.common import (
    campaign_text,
    landed,
    resources,
    store,
    tick,
    upload,
)

campaign_sensor, event_sensor = sms_sensors(running=True)


def _error(root, name: str) -> dict:
    return json.loads((root / "landing/sms/rejected" / f"{name}.error.json").read_text())


def test_good_files_become_one_run_that_stores_them_scheduled_bad_ones_are_refused(tmp_path):
    res = resources(tmp_path)
    upload(tmp_path)
    upload(tmp_path, "names.csv", "first_name,city\nАйгерим,Алматы\n")
    landed(tmp_path, "sms", "dec.json", campaign_text())
    landed(tmp_path, "sms", "jan.yaml", campaign_text("jan", prospects={"upload": "later.csv"}))
    landed(tmp_path, "sms", "unknown.json", campaign_text("u", colour="red"))
    landed(tmp_path, "sms", "ends.json", campaign_text("e", end_at="2026-12-01T09:00:00+05:00"))
    landed(tmp_path, "sms", "variable.json", campaign_text("v", template="Hi {{ frist_name }}"))
    landed(tmp_path, "sms", "nophone.json", campaign_text("n", prospects={"upload": "names.csv"}))
    with dg.instance_for_test() as instance:
        answer = tick(campaign_sensor, res, instance, ("campaign_data", "sms"))
        [request] = answer.run_requests
        assert json.loads(answer.cursor)["last_tick"] == {
            "requested": 1, "rejected": 4, "waiting": 0, "in_flight": 0}
        assert _error(tmp_path, "unknown.json")["problems"][0]["field"] == "colour"
        assert _error(tmp_path, "ends.json")["problems"][0]["field"] == "end_at"
        [variable] = _error(tmp_path, "variable.json")["problems"]
        assert variable["field"] == "template" and "frist_name" in variable["problem"]
        [columns] = _error(tmp_path, "nophone.json")["problems"]
        assert columns["field"] == "prospects.upload" and "first_name" in columns["problem"]

        again = tick(campaign_sensor, res, instance, ("campaign_data", "sms"))
        assert again.run_requests[0].run_key == request.run_key  # one run per arrival
        result = dg.materialize([assets.campaigns], resources=res, instance=instance,
                                run_config=request.run_config, tags=request.tags)
        assert result.success
        meta = result.asset_materializations_for_node("sms__campaigns")[0].metadata
        assert meta["outcomes"].value == {"created": 2}
        quiet = tick(campaign_sensor, res, instance, ("campaign_data", "sms"))
        assert quiet.run_requests == [] and "no new file" in quiet.skip_reason.skip_message
    assert {c["name"]: c["status"] for c in store(tmp_path).campaigns().to_dicts()} == {
        "dec": "Scheduled", "jan": "Scheduled"}
    assert sorted(p.name for p in (tmp_path / "landing/sms/archive").iterdir()) == [
        "dec.json", "jan.yaml"]


def test_a_started_campaign_is_not_replaced_its_new_file_is_rejected_by_the_run(tmp_path):
    res = resources(tmp_path)
    upload(tmp_path)
    landed(tmp_path, "sms", "dec.json", campaign_text())
    with dg.instance_for_test() as instance:
        [first] = tick(campaign_sensor, res, instance, ("campaign_data", "sms")).run_requests
        assert dg.materialize([assets.campaigns], resources=res, instance=instance,
                              run_config=first.run_config, tags=first.tags).success
        store(tmp_path).apply_command("dec", "cancel", datetime.now(UTC))
        landed(tmp_path, "sms", "dec-v2.json", campaign_text(sender="Other"))
        [second] = tick(campaign_sensor, res, instance, ("campaign_data", "sms")).run_requests
        result = dg.materialize([assets.campaigns], resources=res, instance=instance,
                                run_config=second.run_config, tags=second.tags)
        assert result.success
    [problem] = _error(tmp_path, "dec-v2.json")["problems"]
    assert problem["field"] == "name" and "Cancelled" in problem["problem"]


def test_receipts_and_a_stop_reply_are_applied_through_their_sensor(tmp_path):
    res = resources(tmp_path)
    now = datetime.now(UTC)
    lines = [SmsEvent.inbound(provider="project", message_id="IN1", sender="+77012345601",
                              body=" стоп ", received_at=now).line(),
             SmsEvent.receipt(provider="project", message_id="OBunknown", to="+77012345602",
                              status="delivered", error_code=None, received_at=now).line()]
    landed(tmp_path, "sms_events", "events-1.jsonl", b"".join(lines).decode() + "not json\n")
    landed(tmp_path, "sms_events", "junk.jsonl", "not json\n")
    with dg.instance_for_test() as instance:
        answer = tick(event_sensor, res, instance, ("campaign_data",))
        [request] = answer.run_requests
        assert (tmp_path / "landing/sms_events/rejected/junk.jsonl.error.json").exists()
        result = dg.materialize([assets.events], resources=res, instance=instance,
                                run_config=request.run_config, tags=request.tags)
        assert result.success
        meta = result.asset_materializations_for_node("sms__events")[0].metadata
        assert meta["received"].value == 2 and meta["refused_lines"].value == 1
        assert meta["unknown_messages"].value == 1
    assert store(tmp_path).suppression("+77012345601")["reason"] == "stop_reply"
    assert list((tmp_path / "landing/sms_events/archive").glob("events-1*"))
