"""`campaigns create` on a file in landing/campaigns while the sensor ticks: one run for the
arrival, the command's, which takes the file. A real `campaigns` process (held inside its
target load while the sensor ticks, test_runs_guard.PAUSED_CREATE) and a real instance."""

import os
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.audiences.sensors import campaign_requests_sensor
from campaign_pipelines.defs.resources import build_resources
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.test_runs_guard import (  # noqa: F401 - fixtures
    PAUSED_CREATE,
    Process,
    env,
    instance,
)


def _tick(data_dir: Path, opened: dg.DagsterInstance) -> dg.SensorResult:
    resources = build_resources(data_dir)
    context = dg.build_sensor_context(
        instance=opened,
        resources={k: resources[k] for k in ("campaign_data", "warehouse", "io_manager")},
    )
    return campaign_requests_sensor(context)


@pytest.mark.long_pole(seconds=6)
def test_the_sensor_leaves_a_file_to_the_command_building_it(
    env, instance, data_dir, tmp_path  # noqa: F811
):
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / "promo.json"
    path.write_text(request_text(), encoding="utf-8")
    os.utime(path, (time.time() - 60, time.time() - 60))  # settled: the sensor would take it
    marker, resume = tmp_path / "loading", tmp_path / "resume"

    command = Process([sys.executable, "-c", PAUSED_CREATE, str(path), str(marker),
                       str(resume)], env)
    deadline = time.monotonic() + 300
    while not marker.exists():  # the command's run is inside its target load
        assert command.popen.poll() is None, command.stderr_text()[-3000:]
        assert time.monotonic() < deadline, "the command never reached its target load"
        time.sleep(0.05)
    [mine] = [r for r in instance.get_runs() if ARRIVAL_TAG in r.tags]
    assert mine.status == dg.DagsterRunStatus.STARTED

    during = _tick(data_dir, instance)

    resume.touch()
    out, _ = command.finish(timeout=300)
    assert command.popen.returncode == 0, out[-3000:] + command.stderr_text()[-3000:]
    assert during.run_requests == []  # the file is the command's run's while it builds it
    assert (landing / "archive" / "promo.json").exists() and not path.exists()
    assert _tick(data_dir, instance).run_requests == []
    assert len([r for r in instance.get_runs() if ARRIVAL_TAG in r.tags]) == 1
