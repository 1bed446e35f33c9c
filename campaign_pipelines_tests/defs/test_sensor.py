"""The campaign request sensor under the admission contract: it reads, validates and requests
runs; the run builds exactly the admitted version and takes the file; every file gets an
answer. Runs are queued in a real instance and executed as the daemon's worker would."""

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.audiences.sensors import campaign_requests_sensor
from campaign_pipelines.defs.resources import build_resources
from campaign_pipelines.responses import materialization_metadata
from campaign_pipelines.service import loaded_job, reconstructable_job
from campaign_pipelines_tests.bank import CUSTOMERS, request_text
from campaign_pipelines_tests.volumes import fill

V2_IINS = [CUSTOMERS["plain"].iin]


def _tick(data_dir: Path, instance: dg.DagsterInstance) -> dg.SensorResult:
    resources = build_resources(data_dir)
    context = dg.build_sensor_context(
        instance=instance,
        resources={k: resources[k] for k in ("campaign_data", "warehouse", "io_manager")},
    )
    result = campaign_requests_sensor(context)
    for request in result.dynamic_partitions_requests:  # what the daemon applies
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return result


def _arrive(data_dir: Path, name: str, text: str, age_s: float = 60.0) -> Path:
    """A file written some time ago: older than the landing's quiet period."""
    folder = data_dir / "landing" / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def _queue(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.DagsterRun:
    """What the daemon does with a sensor's run request: a QUEUED run in the instance."""
    tags = {**request.tags, "dagster/partition": request.partition_key,
            "dagster/run_key": request.run_key}
    return instance.create_run_for_job(
        job_def=loaded_job("campaign_job"),
        run_config=request.run_config,
        tags=tags,
        status=dg.DagsterRunStatus.QUEUED,
        remote_job_origin=_ORIGIN,
    )


_ORIGIN = RemoteJobOrigin(
    repository_origin=RemoteRepositoryOrigin(
        code_location_origin=ManagedGrpcPythonEnvCodeLocationOrigin(
            LoadableTargetOrigin(module_name="campaign_pipelines.definitions"),
            location_name="campaign_pipelines",
        ),
        repository_name="__repository__",
    ),
    job_name="campaign_job",
)


def _dequeue_and_run(instance: dg.DagsterInstance, run: dg.DagsterRun):
    """What the run coordinator and the run worker do: STARTING, then execute the run."""
    starting = DagsterEvent(DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name)
    instance.report_dagster_event(starting, run_id=run.run_id)
    return execute_run(reconstructable_job("campaign_job"), instance.get_run_by_id(run.run_id),
                          instance)


def _built(result) -> tuple[str, int]:
    version = materialization_metadata(result, "campaign_request")["request_version"]
    return version, materialization_metadata(result, "raw_audience")["initial_count"]


def _files(data_dir: Path, sub: str) -> list[str]:
    folder = data_dir / "landing" / "campaigns" / sub
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_admission_requests_a_run_and_leaves_the_file_for_the_run_to_take(location, data_dir,
                                                                          instance):
    path = _arrive(data_dir, "Spring Push.json", request_text())

    result = _tick(data_dir, instance)

    [request] = result.run_requests
    assert request.partition_key == "spring_push"
    assert result.dynamic_partitions_requests[0].partition_keys == ["spring_push"]
    version = request.run_config["ops"]["campaign_request"]["config"]["version"]
    assert request.tags["campaign/request_version"] == version
    assert path.exists()  # the sensor moved nothing
    run = _queue(instance, request)
    again = _tick(data_dir, instance)
    assert again.run_requests == [] and "wait for their runs" in again.skip_reason.skip_message

    outcome = _dequeue_and_run(instance, run)

    assert outcome.success
    assert _built(outcome) == (version, 3)
    assert not path.exists() and _files(data_dir, "archive") == ["Spring Push.json"]
    assert _tick(data_dir, instance).run_requests == []


def test_a_changed_request_under_the_same_key_while_the_first_run_is_queued_is_refused(
    location, data_dir, instance
):
    first = _arrive(data_dir, "promo.json", request_text())
    [request] = _tick(data_dir, instance).run_requests
    queued = _queue(instance, request)
    _arrive(data_dir, "Promo.yaml", request_text(user_iins=V2_IINS))

    tick = _tick(data_dir, instance)

    assert tick.run_requests == []
    error = json.loads((first.parent / "rejected" / "Promo.yaml.error.json").read_text())
    assert "campaign key 'promo' belongs to" in error["problems"][0]["problem"]
    assert "replaces: promo" in error["problems"][0]["fix"]
    outcome = _dequeue_and_run(instance, queued)
    assert _built(outcome) == (request.tags["campaign/request_version"], 3)
    assert _files(data_dir, "archive") == ["promo.json"]
    assert _files(data_dir, "rejected") == ["Promo.yaml", "Promo.yaml.error.json"]


def test_a_deliberate_replacement_builds_its_own_version_after_the_first_builds_its_own(
    location, data_dir, instance
):
    _arrive(data_dir, "promo.json", request_text())
    [first] = _tick(data_dir, instance).run_requests
    first_run = _queue(instance, first)
    _arrive(data_dir, "Promo.yaml", request_text(user_iins=V2_IINS, replaces="promo"))
    [second] = _tick(data_dir, instance).run_requests
    second_run = _queue(instance, second)
    assert second.tags["campaign/admitted_as"] == "replace"

    built_first = _built(_dequeue_and_run(instance, first_run))
    built_second = _built(_dequeue_and_run(instance, second_run))

    assert built_first == (first.tags["campaign/request_version"], 3)
    assert built_second == (second.tags["campaign/request_version"], 1)
    assert _files(data_dir, "archive") == ["Promo.yaml", "promo.json"]
    assert not _files(data_dir, "rejected")


def test_two_files_with_one_key_in_one_tick_do_not_break_the_tick(location, data_dir, instance):
    _arrive(data_dir, "promo.json", request_text(), age_s=90)
    _arrive(data_dir, "Promo.yaml", request_text(), age_s=60)  # the same content, as YAML
    _arrive(data_dir, "PROMO.yml", request_text(user_iins=V2_IINS), age_s=30)

    result = _tick(data_dir, instance)

    assert [r.tags["campaign/request_file"] for r in result.run_requests] == [
        "promo.json", "Promo.yaml"]
    assert len({r.run_key for r in result.run_requests}) == 2
    assert result.dynamic_partitions_requests[0].partition_keys == ["promo"]
    assert _files(data_dir, "rejected") == ["PROMO.yml", "PROMO.yml.error.json"]


def test_a_file_whose_run_gave_up_before_taking_it_is_rejected_naming_the_run(
    location, data_dir, instance
):
    path = _arrive(data_dir, "promo.json", request_text())
    [request] = _tick(data_dir, instance).run_requests
    run = _queue(instance, request)
    instance.report_run_canceled(run)

    _tick(data_dir, instance)

    error = json.loads((path.parent / "rejected" / "promo.json.error.json").read_text())
    assert run.run_id in error["problems"][0]["problem"]
    assert run.tags[ARRIVAL_TAG] == request.tags[ARRIVAL_TAG]


def test_every_entry_gets_an_answer(location, data_dir, instance):
    _arrive(data_dir, "notes.txt", "not a request")
    _arrive(data_dir, "README", "no extension")
    folder = data_dir / "landing" / "campaigns"
    (folder / "a_folder.json").mkdir()
    (folder / "linked.json").symlink_to(_arrive(data_dir, "target.bin", request_text()))
    _arrive(data_dir, "still_writing.json", '{"campaign_type": "RB1", ', age_s=0)

    result = _tick(data_dir, instance)

    assert result.run_requests == []
    rejected = set(_files(data_dir, "rejected"))
    for name in ("notes.txt", "README", "a_folder.json", "linked.json", "target.bin"):
        assert name in rejected and f"{name}.error.json" in rejected
    assert "waiting for still_writing.json" in result.skip_reason.skip_message
    assert (folder / "still_writing.json").exists()
    mode = (folder / "rejected" / "notes.txt.error.json").stat().st_mode & 0o777
    assert mode & 0o040, "error files are readable by the operators' group"


def test_a_landing_folder_that_cannot_take_rejections_does_not_stop_the_good_files(
    location, data_dir, instance
):
    _arrive(data_dir, "broken.json", "{", age_s=90)
    _arrive(data_dir, "good.json", request_text(), age_s=60)
    (data_dir / "landing" / "campaigns" / "rejected").write_text("a file where a folder goes")

    result = _tick(data_dir, instance)

    assert [r.partition_key for r in result.run_requests] == ["good"]
    assert (data_dir / "landing" / "campaigns" / "broken.json").exists()  # kept, not lost


@pytest.mark.parametrize("text", ["campaign_type: [RB1", "{\"campaign_type\": \"RB9\"}"])
def test_a_bad_request_moves_to_rejected_with_field_and_fix(location, data_dir, instance, text):
    _arrive(data_dir, "bad.yaml", text)
    assert _tick(data_dir, instance).run_requests == []
    error = json.loads((data_dir / "landing/campaigns/rejected/bad.yaml.error.json").read_text())
    assert error["problems"][0]["fix"]
    assert (data_dir / "landing/campaigns/rejected/bad.yaml").read_text() == text


@pytest.mark.parametrize("small_volume", [[]], indirect=True, ids=["tmpfs-64k"])
def test_a_full_disk_fails_the_file_clearly_and_the_next_tick_admits_it(
    location, data_dir, instance, small_volume
):
    (data_dir / "requests").symlink_to(small_volume)
    fill(small_volume / "filler", "blocks")
    path = _arrive(data_dir, "promo.json", request_text())

    full = _tick(data_dir, instance)

    assert full.run_requests == []
    assert "ENOSPC" in full.skip_reason.skip_message
    assert "free space on the volume holding" in full.skip_reason.skip_message
    assert path.exists() and not _files(data_dir, "rejected")
    shutil.rmtree(small_volume / "filler")
    assert [r.partition_key for r in _tick(data_dir, instance).run_requests] == ["promo"]


def test_a_run_that_cannot_archive_its_file_fails_at_once_naming_it(location, data_dir,
                                                                    instance):
    path = _arrive(data_dir, "promo.json", request_text())
    [request] = _tick(data_dir, instance).run_requests
    (path.parent / "archive").write_text("a file where a folder goes")

    outcome = _dequeue_and_run(instance, _queue(instance, request))

    assert not outcome.success
    assert instance.get_run_by_id(outcome.run_id).status == dg.DagsterRunStatus.FAILURE
    failure = next(e for e in outcome.all_events if e.is_step_failure).step_failure_data
    assert "promo.json cannot be moved to archive/" in failure.user_failure_data.description
    assert path.exists()


def test_a_file_that_breaks_the_parser_is_rejected_and_the_others_still_admitted(
    location, data_dir, instance
):
    _arrive(data_dir, "a_good.json", request_text(), age_s=90)
    _arrive(data_dir, "b_huge.json", request_text().replace('"50000"', "9" * 5000), age_s=80)
    _arrive(data_dir, "c_good.json", request_text(), age_s=70)

    result = _tick(data_dir, instance)

    assert [r.partition_key for r in result.run_requests] == ["a_good", "c_good"]
    assert _files(data_dir, "rejected") == ["b_huge.json", "b_huge.json.error.json"]


def test_two_identical_copies_with_one_time_are_two_arrivals(location, data_dir, instance):
    first = _arrive(data_dir, "north.json", request_text())
    second = first.with_name("south.json")
    shutil.copy2(first, second)  # cp -p: the same bytes and modification time

    result = _tick(data_dir, instance)

    assert sorted(r.partition_key for r in result.run_requests) == ["north", "south"]
    assert len({r.tags[ARRIVAL_TAG] for r in result.run_requests}) == 2
