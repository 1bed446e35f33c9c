"""The campaign request sensor: admits, archives, rejects; one run per arrival."""

import json

import dagster as dg

from campaign_pipelines.defs.audiences.sensors import campaign_requests_sensor
from campaign_pipelines.defs.resources import build_resources
from campaign_pipelines_tests.bank import request_text


def _tick(data_dir, instance):
    resources = build_resources(data_dir)
    context = dg.build_sensor_context(
        instance=instance,
        resources={k: resources[k] for k in ("campaign_data", "warehouse")},
    )
    return campaign_requests_sensor(context)


def test_new_request_becomes_partition_and_run_then_is_archived(data_dir, instance):
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True)
    (landing / "Spring Push.json").write_text(request_text(), encoding="utf-8")
    (landing / "notes.txt").write_text("not a request")

    result = _tick(data_dir, instance)

    assert [r.partition_key for r in result.run_requests] == ["spring_push"]
    assert result.run_requests[0].run_key.startswith("spring_push:")
    assert result.dynamic_partitions_requests[0].partition_keys == ["spring_push"]
    assert (landing / "archive" / "Spring Push.json").exists()
    assert not (landing / "Spring Push.json").exists()
    assert (data_dir / "requests" / "spring_push.json").exists()
    assert (landing / "notes.txt").exists()  # not a request suffix: left alone


def test_sending_the_same_request_again_starts_a_new_run(data_dir, instance):
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True)
    runs = []
    for _ in range(2):
        (landing / "again.json").write_text(request_text(), encoding="utf-8")
        runs.append(_tick(data_dir, instance).run_requests[0])
    assert runs[0].run_key != runs[1].run_key
    assert {r.partition_key for r in runs} == {"again"}
    assert runs[0].tags["campaign/request_sha256"] == runs[1].tags["campaign/request_sha256"]
    assert len(list((landing / "archive").glob("again*.json"))) == 2


def test_bad_request_moves_to_rejected_with_field_and_fix(data_dir, instance):
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True)
    (landing / "typo.json").write_text(request_text(mau_onyl=True), encoding="utf-8")
    (landing / "broken.yaml").write_text("campaign_type: [RB1", encoding="utf-8")

    result = _tick(data_dir, instance)

    assert result.run_requests == []
    typo = json.loads((landing / "rejected" / "typo.json.error.json").read_text())
    assert typo["problems"] == [
        {
            "field": "mau_onyl",
            "problem": "Extra inputs are not permitted",
            "fix": "remove this field or correct its spelling",
        }
    ]
    broken = json.loads((landing / "rejected" / "broken.yaml.error.json").read_text())
    assert broken["problems"][0]["field"] == "<document>"
    assert (landing / "rejected" / "broken.yaml").read_text() == "campaign_type: [RB1"


def test_nothing_pending_skips(data_dir, instance):
    result = _tick(data_dir, instance)
    assert result.skip_reason is not None and not result.run_requests


def test_a_request_taken_by_someone_else_mid_tick_is_passed_over(data_dir, instance, monkeypatch):
    from campaign_pipelines.adapters.landing import LandingZone

    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True)
    (landing / "kept.json").write_text(request_text(), encoding="utf-8")
    listed = LandingZone.pending

    def pending_then_gone(self, kind, suffixes):
        # The listing still names a file that `campaigns run-pending` archived meanwhile.
        return [landing / "gone.json", *listed(self, kind, suffixes)]

    monkeypatch.setattr(LandingZone, "pending", pending_then_gone)
    result = _tick(data_dir, instance)
    assert [r.partition_key for r in result.run_requests] == ["kept"]
    assert not (landing / "rejected").exists()
