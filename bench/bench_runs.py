"""Run benchmark: the same small campaign run from the command line, from the UI (the webserver's
GraphQL API, which the launchpad calls) and by the request sensor, and the 3-IIN dry run.

Prints figures; asserts nothing.  python bench/bench_runs.py [--repeat 3] [--customers 20000]

Every figure is wall time of the whole path a user waits for:
- CLI: ``campaigns create FILE`` as a process, from start to exit (loading the code location,
  admission, the run, its outcome printed);
- UI: the launch mutation sent, then the run polled through GraphQL every 0.1 s until it ends
  (the queue, the daemon's dequeue, the run worker's process start and code load, the run);
- sensor: the run's creation by the sensor to its end, as the instance records them (the
  sensor's 15 s interval is waiting, not run time, so it is left out).
The CLI and UI runs deploy the same request again (a redeploy: same codes, rows replaced).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster_graphql import DagsterGraphQLClient

from campaign_pipelines.service import INSTANCE_SETTINGS

BIN = Path(sys.executable).parent
SEED = "seed_example_rb1.json"  # the seed service's example: 3 IINs
LOCATION = "campaign_pipelines"
WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"


def _campaigns(env: dict, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([BIN / "campaigns", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_served(client: DagsterGraphQLClient, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            client._execute("{ version }")  # noqa: SLF001 - the client has no health call
            return
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.5)
    raise TimeoutError(f"the webserver did not answer within {limit_s:.0f} s")


def _ui_run(client: DagsterGraphQLClient, partition: str) -> float:
    started = time.perf_counter()
    run_id = client.submit_job_execution(
        "campaign_job",
        repository_location_name=LOCATION,
        repository_name="__repository__",
        tags={"dagster/partition": partition},
    )
    while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE", "CANCELED"):
        time.sleep(0.1)
    if status != "SUCCESS":
        raise RuntimeError(f"UI run {run_id} ended {status}")
    return time.perf_counter() - started


def _sensor_runs(env: dict, landing: Path, names: list[str], source: Path) -> list[float]:
    """Drops the files one at a time and returns each run's create → end time."""
    import dagster as dg

    os.environ.update(env)
    with dg.DagsterInstance.get() as instance:
        durations = []
        for name in names:
            shutil.copy(source, landing / name)
            key = Path(name).stem
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                runs = instance.get_run_records(
                    dg.RunsFilter(tags={"dagster/partition": key},
                                  statuses=[dg.DagsterRunStatus.SUCCESS])
                )
                if runs:
                    record = runs[0]
                    durations.append(record.end_time - record.create_timestamp.timestamp())
                    break
                time.sleep(0.5)
            else:
                raise TimeoutError(f"the sensor's run for {name} did not succeed in 180 s")
    return durations


def _figure(label: str, times: list[float]) -> str:
    return (f"  {label:<44} median {statistics.median(times):5.2f} s"
            f"  (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        home = root / "dagster_home"
        home.mkdir()
        shutil.copy(INSTANCE_SETTINGS, home / "dagster.yaml")
        env = {**os.environ, "CAMPAIGN_DATA_DIR": str(root / "data"), "DAGSTER_HOME": str(home)}
        _campaigns(env, "demo-data", "--customers", str(args.customers))
        _campaigns(env, "db", "init")
        _campaigns(env, "reference", "refresh")
        landing = root / "data" / "landing" / "campaigns"
        kept = root / "requests"
        shutil.move(landing, kept)  # the daemon's sensor must not take the demo requests
        landing.mkdir()
        seed = kept / SEED

        dry = [_campaigns(env, "create", str(seed), "--dry-run") for _ in range(args.repeat)]
        cli_file = root / "bench_cli.json"
        shutil.copy(seed, cli_file)
        _campaigns(env, "create", str(cli_file))  # first deploy: codes allocated
        cli = [_campaigns(env, "create", str(cli_file)) for _ in range(args.repeat)]

        port = _free_port()
        services = [
            subprocess.Popen([BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(port),
                              "-w", str(WORKSPACE)], env=env, cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([BIN / "dagster-daemon", "run", "-w", str(WORKSPACE)], env=env,
                             cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            _wait_until_served(client)
            ui = [_ui_run(client, "bench_cli") for _ in range(args.repeat)]
            names = [f"bench_sensor_{n}.json" for n in range(args.repeat)]
            sensor = _sensor_runs(env, landing, names, seed)
        finally:
            for service in services:
                service.terminate()
            for service in services:
                service.wait(timeout=60)

    print(f"Runs of the seed's 3-IIN campaign ({args.customers:,}-customer demo bank):")
    print(_figure("campaigns create --dry-run (target <= 5 s)", dry))
    print(_figure("campaigns create (redeploy), CLI", cli))
    print(_figure("same run launched from the UI (GraphQL)", ui))
    print(_figure("run started by the request sensor", sensor))
    ratio = statistics.median(ui) / statistics.median(cli)
    print(f"  UI / CLI ratio (target <= 1.5): {ratio:.2f}")


if __name__ == "__main__":
    main()
