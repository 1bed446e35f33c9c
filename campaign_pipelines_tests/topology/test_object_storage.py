"""CAMPAIGN_DATA_URL on an object store: moto's S3 server on loopback stands in for the bucket
every pod shares (adapters/storage.py). The landing zone, archive/ and rejected/, the stored
requests and the asset files live in the bucket; the warehouse is a local DuckDB file.

The runs are queued in a real instance and executed as the daemon's worker would
(defs/test_sensor.py's helpers); the requests come through the ingress app and boto3, as an
outside writer's would."""

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.adapters.storage import storage_for
from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.commands.jobs import apply_commands_job
from campaign_pipelines.defs.commands.sensors import command_arrivals_sensor
from campaign_pipelines.defs.resources import (
    SequencesResource,
    build_resources,
)
from campaign_pipelines.defs.sequences import assets as sequence_assets
from campaign_pipelines.defs.sequences.sensors import sequence_sensors
from campaign_pipelines.defs.settings import SettingError, read_settings
from campaign_pipelines.ingress.app import create_app
from campaign_pipelines.ingress.settings import read_ingress_settings
from campaign_pipelines.responses import materialization_metadata
from campaign_pipelines.service import InFlight, register
from campaign_pipelines_tests.bank import CUSTOMERS, SEED_REQUEST, request_text
from campaign_pipelines_tests.defs.test_sensor import _dequeue_and_run, _queue, _tick
from campaign_pipelines_tests.topology.object_store import TOKEN, Bucket, new_bucket

# On one xdist worker, one after another: the module's S3 server (moto, 0.6 s of import and a
# start) then runs once, not once on every worker.
pytestmark = pytest.mark.xdist_group("object_storage")


@pytest.fixture(scope="module")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    return new_bucket(s3_endpoint, monkeypatch)


@pytest.fixture
def bucket(data_dir: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket holding the reference datasets the location template built, moved there
    from the data directory (which keeps only the DuckDB file). After ``data_dir``: the
    template is built (once per run) before CAMPAIGN_DATA_URL is set, into its own folder."""
    new = new_bucket(s3_endpoint, monkeypatch)
    assets = data_dir / "assets"
    files = sorted(p for p in assets.rglob("*") if p.is_file())
    assert files, f"no reference datasets in {assets}"
    for path in files:
        new.put(f"assets/{path.relative_to(assets).as_posix()}", path.read_bytes())
        path.unlink()
    return new


def _bucket_resources(local: Path) -> dict:
    """The project's resources (``build_resources``) with ``local`` as the data directory: a
    new DuckDB warehouse there; landing zone and assets in the bucket (CAMPAIGN_DATA_URL)."""
    built = build_resources(local)
    return {name: built[name] for name in ("warehouse", "campaign_data", "io_manager")}


def _deployed(data_dir: Path, code: str) -> tuple[int, int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        targets = connection.execute("SELECT COUNT(*) FROM dssb_ocds.mb22_local_target "
                                     "WHERE CAMPAIGNCODE = ?", [code]).fetchone()
        registered = connection.execute("SELECT COUNT(*) FROM campaign_ops.campaign_registry "
                                        "WHERE campaign_code = ?", [code]).fetchone()
    assert targets is not None and registered is not None
    return targets[0], registered[0]


def test_a_request_from_the_ingress_and_an_upload_in_the_bucket_are_built_deployed_and_archived(
    bucket: Bucket, location, data_dir: Path, instance: dg.DagsterInstance
):
    iins = [customer.iin for customer in CUSTOMERS.values()]
    bucket.put("landing/uploads/spring list.csv", ("IIN\n" + "\n".join(iins) + "\n").encode())
    body = request_text(user_files=["spring list.csv"])
    with TestClient(create_app(read_ingress_settings())) as ingress:
        answer = ingress.post("/campaigns/create", content=body,
                              headers={"Authorization": f"Bearer {TOKEN}",
                                       "Content-Type": "application/json"})
    assert answer.status_code == 202, answer.text
    landed = f"{answer.json()['campaign_key']}.json"
    bucket.put("landing/campaigns/bad.json", request_text(metadata=None).encode())
    assert bucket.keys("landing/campaigns") == ["bad.json", landed]

    result = _tick(data_dir, instance)

    [request] = result.run_requests
    assert bucket.keys("landing/campaigns") == sorted(
        [landed, "rejected/bad.json", "rejected/bad.json.error.json"])
    report = json.loads(bucket.get("landing/campaigns/rejected/bad.json.error.json"))
    assert report["file"] == "bad.json"
    assert any(p["field"] == "metadata" and p["fix"] for p in report["problems"])
    assert bucket.keys(f"requests/{request.partition_key}")  # the admitted version, stored
    outcome = _dequeue_and_run(instance, _queue(instance, request))

    assert outcome.success
    assert materialization_metadata(outcome, "raw_audience")["initial_count"] == len(iins) + len(
        SEED_REQUEST["user_iins"])
    code = materialization_metadata(outcome, "campaign_codes")["campaign_code"]
    targets, registered = _deployed(data_dir, code)
    assert targets > 0 and registered == 1
    assert bucket.keys("landing/campaigns") == sorted(
        [f"archive/{landed}", "rejected/bad.json", "rejected/bad.json.error.json"])
    assert f"raw_audience/{request.partition_key}.parquet" in bucket.keys("assets")
    assert not (data_dir / "assets").exists() or not any((data_dir / "assets").rglob("*.parquet"))
    assert not (data_dir / "landing").exists()  # nothing of the landing zone on the local disk
    assert _tick(data_dir, instance).run_requests == []


def test_two_sensor_evaluations_at_once_and_the_command_line_request_one_run_per_object(
    bucket: Bucket, location, data_dir: Path, instance: dg.DagsterInstance
):
    names = ["north.json", "south.json"]
    for name in names:
        bucket.put(f"landing/campaigns/{name}", request_text().encode())
    start = threading.Barrier(2)
    results: list[dg.SensorResult] = []
    failures: list[BaseException] = []

    def evaluate() -> None:
        start.wait()
        try:
            results.append(_tick(data_dir, instance))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    requests = [r for result in results for r in result.run_requests]
    assert sorted(r.tags["campaign/request_file"] for r in requests) == names
    assert len({r.tags[ARRIVAL_TAG] for r in requests}) == len(names)
    landing = location.campaign_data.landing()
    with pytest.raises(InFlight, match="a run the sensor is requesting now"):  # the command line
        register(location, landing.folder("campaigns") / names[0])
    for request in requests:
        assert _dequeue_and_run(instance, _queue(instance, request)).success
    assert bucket.keys("landing/campaigns") == [f"archive/{name}" for name in names]
    assert _tick(data_dir, instance).run_requests == []
    runs = instance.get_runs(dg.RunsFilter(job_name="campaign_job"))
    assert sorted(run.tags["campaign/request_file"] for run in runs) == names


def test_a_move_that_died_between_its_copy_and_its_delete_is_finished_by_its_repeat(
    store: Bucket,
):
    data = request_text().encode()
    store.put("landing/campaigns/promo.json", data)
    store.put("landing/campaigns/archive/promo.json", data)  # the copy; the delete never came
    landing = LandingZone(read_settings().shared_root / "landing")

    taken = landing.take(landing.folder("campaigns") / "promo.json",
                         hashlib.sha256(data).hexdigest())

    assert taken is not None and taken.name == "promo.json"
    assert store.keys("landing/campaigns") == ["archive/promo.json"]  # one copy, none lost
    assert landing.take(landing.folder("campaigns") / "promo.json",
                        hashlib.sha256(data).hexdigest()) is None  # gone: nothing to repeat


def test_a_landed_name_is_never_replaced_and_a_retried_write_changes_nothing(store: Bucket):
    landing = LandingZone(read_settings().shared_root / "landing")
    landing.write_atomic("commands", "pause-1.json", b'{"command": "pause"}')
    landing.write_atomic("commands", "pause-1.json", b'{"command": "pause"}')  # a retry
    with pytest.raises(FileExistsError):
        landing.write_atomic("commands", "pause-1.json", b'{"command": "resume"}')
    assert store.get("landing/commands/pause-1.json") == b'{"command": "pause"}'


def test_signups_posted_to_the_ingress_land_as_whole_journal_objects(store: Bucket):
    with TestClient(create_app(read_ingress_settings())) as ingress:
        for number in range(3):
            answer = ingress.post("/webhooks/signups", json={
                "email": f"ada{number}@example.com", "first_name": "Ada", "red_systems": 2},
                headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 202, answer.text
    [*journals] = store.keys("landing/signups")
    assert journals and all(name.startswith("signups-") and name.endswith(".jsonl")
                            for name in journals)
    lines = [json.loads(line) for name in journals
             for line in store.get(f"landing/signups/{name}").decode().splitlines()]
    assert sorted(line["signup"]["email"] for line in lines) == [
        f"ada{n}@example.com" for n in range(3)]


def test_admissions_of_one_key_wait_for_each_other_on_the_lock_object(store: Bucket):
    lock = read_settings().shared_root / "requests" / "promo" / ".lock"
    storage, inside, order = storage_for(lock), threading.Event(), []

    def second() -> None:
        inside.wait()
        with storage.locked(lock):
            order.append("second")

    waiter = threading.Thread(target=second)
    waiter.start()
    with storage.locked(lock):
        inside.set()
        time.sleep(0.3)  # the second holder polls meanwhile
        order.append("first")
    waiter.join()
    assert order == ["first", "second"]
    assert store.keys("requests/promo") == []  # released: no lock object left


def test_a_data_url_of_another_kind_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("CAMPAIGN_DATA_URL", "ftp://files.example/campaigns")
    with pytest.raises(SettingError, match="CAMPAIGN_DATA_URL='ftp://files.example/campaigns'"):
        read_settings()


def test_keys_under_a_prefix_in_a_landing_folder_are_rejected_together_with_their_report(
    store: Bucket,
):
    store.put("landing/campaigns/spring/a.json", b"{}")
    store.put("landing/campaigns/spring/b.json", b"{}")
    landing = LandingZone(read_settings().shared_root / "landing")
    [arrival] = landing.arrivals("campaigns", (".json",))
    assert arrival.status == "refused" and arrival.problem is not None

    landing.reject(arrival.path, {"problems": [arrival.problem]})

    assert store.keys("landing/campaigns") == [
        "rejected/spring.error.json", "rejected/spring/a.json", "rejected/spring/b.json"]
    report = json.loads(store.get("landing/campaigns/rejected/spring.error.json"))
    assert report["entry"] == "folder" and "spring is a folder" in report["problems"][0]["problem"]


def test_signups_from_the_ingress_are_admitted_enrolled_and_archived_in_the_bucket(
    store: Bucket, tmp_path: Path
):
    resources = {**_bucket_resources(tmp_path),
                 "sequences": SequencesResource(timing="testing", unsubscribe_secret="s3cret")}
    with TestClient(create_app(read_ingress_settings())) as ingress:
        for red, address in enumerate(["crit@x.org", "urg@x.org", "crit@X.org"]):
            answer = ingress.post("/webhooks/signups", headers={"Authorization": f"Bearer {TOKEN}"},
                                  json={"email": address, "first_name": "A", "red_systems": red})
            assert answer.status_code == 202, answer.text
    journals = store.keys("landing/signups")
    arrivals_sensor, _ = sequence_sensors(running=True)

    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={
                k: resources[k] for k in ("campaign_data", "sequences")}) as context:
            [request] = arrivals_sensor(context).run_requests
        result = dg.materialize([sequence_assets.signups, sequence_assets.enrollments,
                                 sequence_assets.suppressions],
                                resources=resources, run_config=request.run_config,
                                instance=instance)

    assert result.success
    enrolled = result.asset_materializations_for_node("sequences__enrollments")[0].metadata
    assert enrolled["enrolled_now"].value == 2 and enrolled["duplicates_now"].value == 1
    assert store.keys("landing/signups") == [f"archive/{name}" for name in journals]
    assert not (tmp_path / "landing").exists()


def test_a_delete_command_from_the_ingress_is_applied_from_the_bucket_and_answered_there(
    store: Bucket, tmp_path: Path
):
    resources = _bucket_resources(tmp_path)
    with TestClient(create_app(read_ingress_settings())) as ingress:
        answer = ingress.delete("/campaigns/C999999999",
                                headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 202, answer.text
    landed = answer.json()["file"]

    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources={
                "campaign_data": resources["campaign_data"]}) as context:
            [request] = command_arrivals_sensor(context).run_requests
        result = apply_commands_job.execute_in_process(
            run_config=request.run_config, resources=resources, instance=instance,
            tags=request.tags, raise_on_error=False)

    assert result.success
    assert store.keys("landing/commands") == [f"rejected/{landed}",
                                              f"rejected/{landed}.error.json"]
    report = json.loads(store.get(f"landing/commands/rejected/{landed}.error.json"))
    assert "C999999999" in json.dumps(report["problems"])


def test_the_ingress_is_ready_while_its_bucket_answers_and_not_once_it_is_gone(store: Bucket):
    with TestClient(create_app(read_ingress_settings())) as ingress:
        assert ingress.get("/ready").json() == {"status": "ready"}
        store.client.delete_bucket(Bucket=store.name)  # nothing landed yet: it is empty
        answer = ingress.get("/ready")
        assert answer.status_code == 503
        assert answer.json()["problem"] == (f"the bucket {store.name} does not exist or these "
                                            "credentials cannot see it")
