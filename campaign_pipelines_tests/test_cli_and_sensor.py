"""`campaigns create` on a file in landing/campaigns while the sensor ticks: one run for the
arrival, the command's, which takes the file. A real `campaigns` process and a real instance."""

import os
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.audiences.sensors import campaign_requests_sensor
from campaign_pipelines.defs.resources import build_resources
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.test_runs_guard import (  # noqa: F401 - fixtures
    Process,
    env,
    instance,
)

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))


def _tick(data_dir: Path, opened: dg.DagsterInstance) -> dg.SensorResult:
    resources = build_resources(data_dir)
    context = dg.build_sensor_context(
        instance=opened,
        resources={k: resources[k] for k in ("campaign_data", "warehouse")},
    )
    return campaign_requests_sensor(context)


@pytest.mark.long_pole(seconds=9)
def test_the_sensor_leaves_a_file_to_the_command_building_it(env, instance, data_dir):  # noqa: F811
    uploads = data_dir / "landing" / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    iins = pl.int_range(10**11, 10**11 + 2_000_000, eager=True).cast(pl.String)
    pl.DataFrame({"IIN": iins}).write_csv(uploads / "big.csv")
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / "big.json"
    path.write_text(request_text(user_iins=None, user_files=["big.csv"], filter_config={}),
                    encoding="utf-8")
    os.utime(path, (time.time() - 60, time.time() - 60))

    command = Process([CAMPAIGNS, "create", str(path)], env)
    deadline, mine = time.monotonic() + 300, []
    while not mine and time.monotonic() < deadline:
        assert command.popen.poll() is None, command.stderr_text()[-3000:]
        mine = [r for r in instance.get_runs() if ARRIVAL_TAG in r.tags]
        time.sleep(0.2)
    assert mine, "the command's run never appeared"

    during = _tick(data_dir, instance)

    out, _ = command.finish(timeout=600)
    assert command.popen.returncode == 0, out[-3000:] + command.stderr_text()[-3000:]
    assert during.run_requests == []  # the file is the command's run's (or already taken)
    assert (landing / "archive" / "big.json").exists() and not path.exists()
    assert _tick(data_dir, instance).run_requests == []
    assert len([r for r in instance.get_runs() if ARRIVAL_TAG in r.tags]) == 1
