"""The streak assets, checks and sensor through Dagster with test resources."""

import json
import os
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    DuckDBWarehouseResource,
    JourneyConfigResource,
)
from campaign_pipelines.defs.retries import RETRY_TAGS
from campaign_pipelines.defs.streaks import assets, checks
from campaign_pipelines.defs.streaks.run_failures import streak_assignment_failures_sensor
from campaign_pipelines.defs.streaks.sensors import assignments_sensor
from campaign_pipelines.demo.user_activity import write_user_activity


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    write_user_activity(tmp_path / "warehouse.duckdb", users=2_000)
    return {
        "warehouse": DuckDBWarehouseResource(database=str(tmp_path / "warehouse.duckdb"),
                                             reference_config_path=str(
                                                 default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(tmp_path)),
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "assets")),
        "journey_config": JourneyConfigResource(),
    }


def store(resources) -> StreakStore:
    return StreakStore(DuckDBWarehouse(Path(resources["warehouse"].database)))


DAILY = [assets.user_activity, assets.batch_eligibility, assets.assignments, assets.user_state,
         checks.batch_never_moves_experiment_users, checks.one_state_row_per_user,
         checks.every_streak_is_known]


def test_daily_assets_assign_and_report(resources):
    result = dg.materialize(DAILY, resources=resources,
                            selection=[assets.BATCH_ELIGIBILITY, assets.ASSIGNMENTS,
                                       assets.USER_STATE])
    assert result.success
    meta = result.asset_materializations_for_node("streaks__assignments")[-1].metadata
    assigned = meta["assigned_per_campaign"].value
    assert set(assigned) == {"upi_25x1_streak", "snp_flat_10_multilob_act_react",
                             "cred_mtu_single_lob_others_retention"}
    assert meta["blocked_total"].value > 0 and meta["chain_hops"].value > 0
    audit = store(resources).read_audit(result.run_id)
    assert audit.height == meta["audit_rows"].value
    assert all(c.passed for c in result.get_asset_check_evaluations())


def test_state_check_fails_when_a_user_sits_in_two_streaks(resources):
    assert dg.materialize(DAILY, resources=resources).success
    state = store(resources).read_state()
    twin = state.head(1).with_columns(streak_type=pl.lit("30x5_streak"))
    with duckdb.connect(resources["warehouse"].database) as connection:
        connection.register("twin", twin.to_arrow())
        connection.execute("INSERT INTO campaign_ops.user_streak_state SELECT * FROM twin")
    result = dg.materialize(DAILY, resources=resources, raise_on_error=False,
                            selection=[assets.USER_STATE])
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.check_name == "one_state_row_per_user"]
    assert not evaluation.passed
    assert evaluation.metadata["offending_rows"].value == 1


def _manual(resources, path: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [assets.manual_assignments], resources=resources, raise_on_error=False,
        run_config={"ops": {"streaks__manual_assignments": {"config": {"file": str(path)}}}})


def test_manual_file_moves_users_and_is_archived(resources, tmp_path):
    folder = tmp_path / "landing" / "assignments"
    folder.mkdir(parents=True)
    path = folder / "moves.csv"
    path.write_text("user_id,streak\n1000001,30x5_streak\n1000002,weekend_7x2_streak\n")
    assert _manual(resources, path).success
    state = dict(store(resources).read_state().select("user_id", "streak_type").iter_rows())
    assert (state[1000001], state[1000002]) == ("30x5_streak", "weekend_7x2_streak")
    assert (folder / "archive" / "moves.csv").exists() and not path.exists()


def test_manual_file_with_unknown_user_is_rejected_whole(resources, tmp_path):
    folder = tmp_path / "landing" / "assignments"
    folder.mkdir(parents=True)
    path = folder / "bad.csv"
    path.write_text("user_id,streak\n1000001,30x5_streak\n42,30x5_streak\n")
    before = store(resources).read_state()
    result = _manual(resources, path)
    assert not result.success
    assert store(resources).read_state().sort("user_id").equals(before.sort("user_id"))
    error = json.loads((folder / "rejected" / "bad.csv.error.json").read_text())
    assert "1 unknown users, e.g. [42]" in error["problems"][0]["problem"]


streak_assignments_sensor = assignments_sensor(running=True)


def landed(zone, name: str, data: bytes) -> Path:
    """A file landed a minute ago: past the landing's quiet period, so it is answered now."""
    path = zone.write_atomic("assignments", name, data)
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def manual_job(resources: dict) -> dg.JobDefinition:
    """The manual-moves job over ``resources``, for runs created without executing them."""
    return dg.Definitions(
        assets=[assets.manual_assignments], resources=resources,
        jobs=[dg.define_asset_job("streak_manual_assignment_job",
                                  selection=[assets.MANUAL_ASSIGNMENTS])],
    ).resolve_job_def("streak_manual_assignment_job")


# Run retries as dagster.yaml enables them: only for runs that ask.
RUN_RETRIES_ON = {"run_retries": {"enabled": True, "max_retries": 0}}


def tick(resources: dict, instance: dg.DagsterInstance, cursor: str | None = None
         ) -> dg.SensorResult:
    """One evaluation of the streak assignments sensor over ``resources``, in ``instance``,
    given the ``cursor`` a previous tick left."""
    sensor_resources = {k: resources[k] for k in ("campaign_data", "journey_config")}
    with dg.build_sensor_context(resources=sensor_resources, instance=instance,
                                 cursor=cursor) as context:
        return streak_assignments_sensor(context)


def requested_run(resources: dict, instance: dg.DagsterInstance) -> dg.RunRequest:
    """The one run the sensor requests for the single file waiting in landing/assignments."""
    [request] = tick(resources, instance).run_requests
    return request


def test_sensor_requests_one_run_per_arrival_and_rejects_bad_files(resources):
    zone = resources["campaign_data"].landing()
    landed(zone, "good.csv", b"user_id,streak\n1000001,30x5_streak\n")
    landed(zone, "bad.csv", b"user_id,streak\n1000001,nope\n")
    sensor_resources = {k: resources[k] for k in ("campaign_data", "journey_config")}
    with dg.build_sensor_context(resources=sensor_resources,
                                 instance=dg.DagsterInstance.ephemeral()) as context:
        first = streak_assignments_sensor(context)
    [run] = first.run_requests
    assert run.run_key.startswith("good.csv@") and run.tags[ARRIVAL_TAG] == run.run_key
    # one request per arrival; Dagster's run retries, not the sensor, run it again
    assert run.tags["dagster/max_retries"] == "2"
    assert run.tags["dagster/retry_strategy"] == "FROM_FAILURE"
    assert run.run_config["ops"]["streaks__manual_assignments"]["config"]["file"].endswith(
        "good.csv")
    error = json.loads((zone.root / "assignments" / "rejected" / "bad.csv.error.json").read_text())
    assert "valid streaks" in error["problems"][0]["fix"]
    # the next tick names the same arrival: Dagster starts no second run for one run key
    with dg.build_sensor_context(resources=sensor_resources, cursor=first.cursor,
                                 instance=dg.DagsterInstance.ephemeral()) as context:
        second = streak_assignments_sensor(context)
    assert [r.run_key for r in second.run_requests] == [run.run_key]
    assert sorted(p.name for p in (zone.root / "assignments" / "rejected").iterdir()) == [
        "bad.csv", "bad.csv.error.json"]


def test_a_file_still_being_written_waits_and_the_tick_says_so(resources):
    zone = resources["campaign_data"].landing()
    zone.write_atomic("assignments", "fresh.csv", b"user_id,streak\n1000001,30x5_streak\n")
    sensor_resources = {k: resources[k] for k in ("campaign_data", "journey_config")}
    with dg.build_sensor_context(resources=sensor_resources,
                                 instance=dg.DagsterInstance.ephemeral()) as context:
        result = streak_assignments_sensor(context)
    assert result.run_requests == []
    assert "waiting for fresh.csv" in result.skip_reason.skip_message


def test_a_tick_that_only_rejected_files_names_them_and_their_error_files(resources):
    zone = resources["campaign_data"].landing()
    landed(zone, "bad.csv", b"user_id,streak\n1000001,nope\n")
    with dg.DagsterInstance.ephemeral() as instance:
        result = tick(resources, instance)
    assert result.run_requests == []
    assert result.skip_reason.skip_message == (
        "refused 1 file, no run: bad.csv → landing/assignments/rejected/bad.csv.error.json "
        "(streak: unknown streaks ['nope'] in rows [1])")
    assert (zone.root / "assignments" / "rejected" / "bad.csv.error.json").exists()
    assert json.loads(result.cursor)["last_rejected"]["file"] == "bad.csv"


def test_an_empty_folder_says_so_and_the_cursor_keeps_the_last_files(resources):
    zone = resources["campaign_data"].landing()
    landed(zone, "moves.csv", b"user_id,streak\n1000001,30x5_streak\n")
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(resources, instance)
        zone.archive(zone.root / "assignments" / "moves.csv")  # as its run would
        quiet = tick(resources, instance, cursor=first.cursor)
    assert quiet.skip_reason.skip_message == "no new file in landing/assignments"
    report = json.loads(quiet.cursor)
    assert report["last_tick"] == {"requested": 0, "rejected": 0, "waiting": 0, "in_flight": 0}
    assert report["last_requested"]["file"] == "moves.csv"


def test_a_cursor_of_the_first_format_is_still_read(resources):
    zone = resources["campaign_data"].landing()
    landed(zone, "moves.csv", b"user_id,streak\n1000001,30x5_streak\n")
    with dg.DagsterInstance.ephemeral() as instance:
        result = tick(resources, instance, cursor="requested=0 rejected=1 waiting=0 in_flight=0")
    assert [r.tags["streaks/assignment_file"] for r in result.run_requests] == ["moves.csv"]
    assert json.loads(result.cursor)["last_tick"]["requested"] == 1


def test_a_run_waiting_for_its_retry_keeps_the_file(resources):
    """Between a failed run and the retry Dagster launches, the file is in flight, not lost."""
    zone = resources["campaign_data"].landing()
    path = landed(zone, "moves.csv", b"user_id,streak\n1000001,30x5_streak\n")
    with dg.instance_for_test(overrides=RUN_RETRIES_ON) as instance:
        request = requested_run(resources, instance)
        run = instance.create_run_for_job(manual_job(resources), run_config=request.run_config,
                                          tags=request.tags)
        instance.report_run_failed(run, "the run worker was killed")
        assert instance.get_run_by_id(run.run_id).is_complete_and_waiting_to_retry
        result = tick(resources, instance)
    assert result.run_requests == [] and path.exists()
    assert "1 admitted file(s) wait for their runs" in result.skip_reason.skip_message


def test_with_run_retries_off_the_first_failed_run_rejects_the_file(resources, tmp_path):
    """An instance without run retries (no dagster.yaml) never runs the file again, so its
    first failure is the last: the failure sensor rejects the file naming that run."""
    zone = resources["campaign_data"].landing()
    path = landed(zone, "moves.csv", b"user_id,streak\n1000001,30x5_streak\n")
    (tmp_path / "not_a_database").mkdir()  # a warehouse that cannot open: not the file's fault
    broken = {**resources, "warehouse": DuckDBWarehouseResource(
        database=str(tmp_path / "not_a_database"),
        reference_config_path=resources["warehouse"].reference_config_path)}
    with dg.DagsterInstance.ephemeral() as instance:
        request = requested_run(resources, instance)
        result = dg.materialize(
            [assets.manual_assignments], resources=broken, instance=instance,
            raise_on_error=False, run_config=request.run_config,
            tags={**request.tags, "dagster/run_key": request.run_key})
        assert not result.success and path.exists()
        context = dg.build_run_status_sensor_context(
            sensor_name="streak_assignment_failures_sensor",
            dagster_event=result.get_run_failure_event(), dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"campaign_data": resources["campaign_data"]}).for_run_failure()
        streak_assignment_failures_sensor(context)
    error = json.loads((zone.root / "assignments" / "rejected" / "moves.csv.error.json")
                       .read_text())
    assert f"1 runs applying this file failed; the last was run {result.run_id}" in (
        error["problems"][0]["problem"])
    assert not path.exists()


def test_run_retry_tags_are_the_ones_dagster_reads():
    from dagster._core.execution.plan.resume_retry import ReexecutionStrategy
    from dagster._core.storage.tags import (
        MAX_RETRIES_TAG,
        RETRY_ON_ASSET_OR_OP_FAILURE_TAG,
        RETRY_STRATEGY_TAG,
    )

    assert set(RETRY_TAGS) == {MAX_RETRIES_TAG, RETRY_STRATEGY_TAG,
                               RETRY_ON_ASSET_OR_OP_FAILURE_TAG}
    assert RETRY_TAGS[RETRY_STRATEGY_TAG] in ReexecutionStrategy.__members__
    assert RETRY_TAGS[RETRY_ON_ASSET_OR_OP_FAILURE_TAG] == "false"  # step errors: step policy


def test_definitions_expose_the_streak_domain():
    from campaign_pipelines.definitions import defs

    loaded = defs()
    keys = {k.to_user_string() for k in loaded.resolve_all_asset_keys()}
    assert {"sources/user_activity", "streaks/batch_eligibility", "streaks/assignments",
            "streaks/manual_assignments", "streaks/user_state"} <= keys
    schedule = loaded.resolve_schedule_def("streaks_daily_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "Asia/Almaty")
    assert loaded.resolve_sensor_def("streak_assignments_sensor").job_name == \
        "streak_manual_assignment_job"
    assert loaded.resolve_job_def("streaks_daily_job") is not None
    failures = loaded.resolve_sensor_def("streak_assignment_failures_sensor")
    assert failures.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.parametrize(("warehouse", "status"), [("duckdb", "RUNNING"), ("oracle", "STOPPED")])
def test_sensor_and_schedule_status_follow_the_settings_when_loaded(monkeypatch, warehouse,
                                                                     status):
    from campaign_pipelines.defs.streaks import schedules, sensors

    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", warehouse)
    [sensor] = sensors.streak_assignment_sensors().sensors
    [schedule] = schedules.streak_schedules().schedules
    assert sensor.default_status.value == schedule.default_status.value == status
