"""One machine, many processes, on the embedded default: `make ui` (the webserver and the daemon,
through `dg dev`), `campaigns serve` and a loop of `campaigns create` run together for
``CAMPAIGN_SOAK_SECONDS`` (120 by default) over one DAGSTER_HOME and one warehouse.duckdb.

What runs at once: the create loop's runs write the warehouse from their own processes; requests
posted to the ingress land in landing/campaigns, and the daemon's sensor turns each into a run
that the queued run coordinator launches; the SMS runner's schedule, turned on for the soak,
makes a run every minute, a writer like any other; the ingress answers campaign reads
(GET /campaigns) from the same DuckDB file, read-only, meanwhile. The test holds when no process
failed on a lock (DuckDB's "Could not set lock", SQLite's "database is locked") and no request
was lost: every create and every posted request ended as one successful run and one registered
campaign.

`dg dev` is the session's (dagster_ui.py): the browser test may have used it before, so the runs
and campaigns counted are those that appeared after the soak started; its log, checked for lock
failures, is the whole of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from campaign_pipelines.defs.sms.schedules import runner_schedule
from campaign_pipelines_tests.bank import SEED_REQUEST, request_text
from campaign_pipelines_tests.dagster_ui import GROUP, UI
from campaign_pipelines_tests.ingress.server import Ingress

SOAK_S = float(os.environ.get("CAMPAIGN_SOAK_SECONDS", "120"))
POST_EVERY_S = 6.0  # a request through the ingress
READ_EVERY_S = 2.0  # a campaign list read through the ingress
DRAIN_S = 240  # after the soak: the sensor's last ticks and their runs
LOCK_FAILURES = ("database is locked", "Could not set lock", "Conflicting lock")
CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))
SMS_RUNNER = runner_schedule(running=True).name

pytestmark = pytest.mark.long_pole(seconds=SOAK_S + 60)


def _request(name: str) -> str:
    return request_text(metadata={**SEED_REQUEST["metadata"], "campaign_name": name})


class IngressTraffic(threading.Thread):
    """Posts a campaign request every POST_EVERY_S and reads the campaign list every
    READ_EVERY_S until told to stop; keeps every answer."""

    def __init__(self, ingress: Ingress):
        super().__init__(daemon=True)
        self.ingress = ingress
        self.stopping = threading.Event()
        self.posted: list[str] = []
        self.post_answers: list[tuple[int, bytes]] = []
        self.read_statuses: list[int] = []

    def run(self) -> None:
        next_post = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() >= next_post:
                name = f"soak ingress {len(self.posted)}"
                self.posted.append(name)
                self.post_answers.append(
                    self.ingress.call("POST", "/campaigns/create", _request(name).encode()))
                next_post += POST_EVERY_S
            status, _ = self.ingress.call("GET", "/campaigns?limit=5")
            self.read_statuses.append(status)
            self.stopping.wait(READ_EVERY_S)


def _run_ids(home: Path) -> set[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {record.dagster_run.run_id for record in instance.get_run_records()}


def _drained_campaign_runs(home: Path, seen: set[str], posted: int) -> list[dg.RunRecord]:
    """campaign_job's runs other than ``seen``, once the sensor has launched ``posted`` of them
    and every run that is not in ``seen`` (the SMS runner's too) has finished, or after
    DRAIN_S."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        drain_until = time.monotonic() + DRAIN_S
        while True:
            new = [record for record in instance.get_run_records()
                   if record.dagster_run.run_id not in seen]
            runs = [r for r in new if r.dagster_run.job_name == "campaign_job"]
            by_sensor = [r for r in runs if r.dagster_run.tags.get("dagster/sensor_name")]
            finished = all(r.dagster_run.is_finished for r in new)
            if (len(by_sensor) >= posted and finished) or time.monotonic() > drain_until:
                return runs
            time.sleep(1)


def _deployed(data_dir: Path) -> dict[str, int]:
    """Each registered campaign that is not deleted, with its rows in the local target table."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return dict(connection.execute(
            "SELECT r.campaign_key, COUNT(t.IIN) FROM campaign_ops.campaign_registry r "
            "LEFT JOIN dssb_ocds.mb22_local_target t ON t.CAMPAIGNCODE = r.campaign_code "
            "WHERE r.deleted_at IS NULL GROUP BY r.campaign_key").fetchall())


@pytest.mark.xdist_group(GROUP)
def test_ui_ingress_and_a_create_loop_share_the_embedded_default_without_lock_failures(
        ui: UI, tmp_path):
    env = {**os.environ}  # CAMPAIGN_DATA_DIR and DAGSTER_HOME: the UI's (the ui fixture)
    runs_before, campaigns_before = _run_ids(ui.home), set(_deployed(ui.data_dir))
    serve_log = tmp_path / "serve.log"  # the ingress's output, read for lock failures
    ingress = None
    created: list[dict] = []
    create_errors: list[str] = []
    try:
        ingress = Ingress(ui.data_dir, workers=2, log=serve_log, start_s=60)
        traffic = IngressTraffic(ingress)
        with ui.schedule_running(SMS_RUNNER):
            traffic.start()
            deadline = time.monotonic() + SOAK_S
            while time.monotonic() < deadline:
                path = tmp_path / f"soak_cli_{len(created) + len(create_errors)}.json"
                path.write_text(_request(f"soak cli {path.stem}"), encoding="utf-8")
                done = subprocess.run([CAMPAIGNS, "create", str(path)], env=env,
                                      capture_output=True, text=True, timeout=300, check=False)
                if done.returncode == 0:
                    created.append(json.loads(done.stdout))
                else:
                    create_errors.append(f"{path.name} rc {done.returncode}:\n"
                                         f"{done.stderr[-2000:]}\n{done.stdout[-2000:]}")
            traffic.stopping.set()
            traffic.join(timeout=60)

        assert not create_errors, create_errors
        assert all(status == 202 for status, _ in traffic.post_answers), traffic.post_answers
        keys = {json.loads(body)["campaign_key"] for _, body in traffic.post_answers}
        assert len(keys) == len(traffic.posted)
        # Reads: a writer holding the file makes a read wait up to a second, then answer 503
        # with Retry-After; the test counts those answers, and every one must be 200 or that.
        assert set(traffic.read_statuses) <= {200, 503}, traffic.read_statuses

        runs = _drained_campaign_runs(ui.home, runs_before, len(keys))
        statuses = {r.dagster_run.run_id: r.dagster_run.status.value for r in runs}
        assert len(runs) == len(created) + len(keys), statuses
        assert set(statuses.values()) == {"SUCCESS"}, statuses
    finally:
        if ingress is not None:
            ingress.stop()

    outputs = {"ui": ui.log.read_text(errors="replace"),
               "serve": serve_log.read_text(errors="replace")}
    for process, text in outputs.items():
        for failure in LOCK_FAILURES:
            assert failure not in text, f"{process}: {failure}\n{text[-3000:]}"

    expected = {body["campaign_key"] for body in created} | keys
    deployed = {key: rows for key, rows in _deployed(ui.data_dir).items()
                if key not in campaigns_before}
    assert expected == set(deployed), sorted(expected ^ set(deployed))
    assert all(rows > 0 for rows in deployed.values()), deployed
    print(f"soak {SOAK_S:.0f} s: {len(created)} creates, {len(traffic.posted)} posted requests, "
          f"{len(traffic.read_statuses)} reads ({traffic.read_statuses.count(503)} answered 503)")
