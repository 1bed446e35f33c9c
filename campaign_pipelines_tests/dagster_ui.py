"""One `dg dev` (what `make ui` starts: the webserver, the daemon and a code server) for the
whole pytest session, shared by the tests that use the ``ui`` fixture: starting it takes about
11 s of CPU and 15 s of wall.

It runs over a DAGSTER_HOME and a data directory of its own, a copy of cli_template (what
`campaigns db init` and `campaigns reference refresh` leave), with the SMS runner's schedule
stopped before the daemon starts (schedule_state.py says why); a test that wants it running
turns it on and off as the UI's toggle does (``UI.schedule_running``). The tests that use it
are marked ``xdist_group("dagster_ui")``, so that they run one after another on one xdist
worker (pyproject.toml: ``--dist loadgroup``); each finds what the ones before it left in the
instance and the warehouse, and checks only the runs and campaigns it made. `dg dev` is stopped
after the last test of the session that uses it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Dagster and schedule_state (Dagster) are imported where they are used: conftest.py loads this
# plugin in pytest-xdist's controller too, which uses neither.
from campaign_pipelines_tests.ports import free_port
from campaign_pipelines_tests.templates import (
    CLI_HOME,
    DATA,
    ROOT,
    copy_into,
    forget_rebuilt_jobs,
)

GROUP = "dagster_ui"  # the xdist_group of the tests that use the ui fixture
DG = str(Path(sys.executable).with_name("dg"))
LOCATION = "campaign_pipelines"  # workspace.yaml's location name
UI_START_S = 90  # the webserver, the daemon and the code server on two busy cores
RUN_S = 60  # a campaign of three rows runs in seconds (every job runs in process)

LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
RUN_STATUS = """query ($id: ID!) { runOrError(runId: $id) {
    __typename ... on Run { status jobName tags { key value } } } }"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
START_SCHEDULE = """mutation ($selector: ScheduleSelector!) {
    startSchedule(scheduleSelector: $selector) { __typename
        ... on ScheduleStateResult { scheduleState { id status } }
        ... on PythonError { message } } }"""
STOP_SCHEDULE = """mutation ($id: String!) { stopRunningSchedule(id: $id) { __typename
    ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


class UI:
    """`dg dev` in its own process group over ``home`` (DAGSTER_HOME) and ``data_dir``
    (CAMPAIGN_DATA_DIR), its output in ``log``."""

    def __init__(self, home: Path, data_dir: Path, log: Path):
        self.home, self.data_dir, self.log = home, data_dir, log
        self.base = f"http://127.0.0.1:{free_port()}"
        self.stopped = False
        env = {**os.environ, "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
        env.pop("CAMPAIGN_WAREHOUSE", None)
        with log.open("wb") as out:  # the child keeps its own descriptor
            # From DAGSTER_HOME, as `make ui` runs it (the Makefile says why).
            self.process = subprocess.Popen(
                [DG, "dev", "-w", str(ROOT / "workspace.yaml"), "--host", "127.0.0.1",
                 "--port", self.base.rsplit(":", 1)[1]],
                cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def said(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_until_loaded(self) -> None:
        """Returns once the code location is loaded; fails with its error if it cannot load."""
        deadline = time.monotonic() + UI_START_S
        while time.monotonic() < deadline:
            if not self.running():
                pytest.fail(f"dg dev exited with {self.process.returncode}:\n{self.said()}")
            try:
                entries = graphql(self.base, LOCATIONS)["workspaceOrError"]["locationEntries"]
            except OSError:
                entries = []  # not serving yet
            for entry in entries:
                loaded = entry["locationOrLoadError"]
                if loaded and loaded["__typename"] == "PythonError":
                    pytest.fail(f"code location {entry['name']} failed to load in the UI:\n"
                                f"{loaded['message']}")
                if entry["loadStatus"] == "LOADED" and loaded:
                    return
            time.sleep(0.5)
        pytest.fail(f"the UI did not load the code location in {UI_START_S} s:\n{self.said()}")

    def wait_for_run(self, run_id: str) -> dict:
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline:
            run = graphql(self.base, RUN_STATUS, {"id": run_id})["runOrError"]
            if run["__typename"] == "Run" and run["status"] in FINISHED:
                return run
            time.sleep(0.5)
        pytest.fail(f"run {run_id} did not finish in {RUN_S} s:\n{self.said()}")

    @contextmanager
    def schedule_running(self, name: str) -> Iterator[None]:
        """Schedule ``name`` of the code location turned on, and off again afterwards, as the
        UI's toggle does."""
        from campaign_pipelines_tests.schedule_state import REPOSITORY

        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                    "scheduleName": name}
        started = graphql(self.base, START_SCHEDULE, {"selector": selector})["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started
        assert started["scheduleState"]["status"] == "RUNNING", started
        try:
            yield
        finally:
            stopped = graphql(self.base, STOP_SCHEDULE,
                              {"id": started["scheduleState"]["id"]})["stopRunningSchedule"]
            assert stopped["__typename"] == "ScheduleStateResult", stopped
            assert stopped["scheduleState"]["status"] == "STOPPED", stopped

    def stop(self) -> None:
        """SIGTERM to `dg dev`, which stops its webserver, daemon and code server; whatever of
        its process group is left after 5 s is killed (nothing it leaves is read again: a
        graceful end sometimes took the full 20 s this waited before, a worker idle meanwhile).
        Once stopped, does nothing."""
        if self.stopped:
            return
        self.stopped = True
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def _copy_of_cli_template(template: Path, directory: Path) -> tuple[Path, Path]:
    """The data directory and the DAGSTER_HOME of cli_template, copied under ``directory``."""
    data_dir, home = directory / DATA, directory / CLI_HOME
    copy_into(template / DATA, data_dir)
    copy_into(template / CLI_HOME, home)
    return data_dir, home


def _sms_runner_stopped(home: Path) -> None:
    import dagster as dg

    from campaign_pipelines_tests.schedule_state import stop_sms_runner

    with dg.DagsterInstance.from_config(str(home)) as instance:
        stop_sms_runner(instance, LOCATION)


def _last_test_using_ui(session: pytest.Session) -> pytest.Item | None:
    users = [item for item in session.items if "ui" in getattr(item, "fixturenames", ())]
    return users[-1] if users else None


@pytest.fixture(scope="session")
def shared_ui(tmp_path_factory: pytest.TempPathFactory, cli_template: Path) -> Iterator[UI]:
    """`dg dev` over a copy of cli_template, its code location loaded, the SMS runner stopped."""
    directory = tmp_path_factory.mktemp(GROUP)
    data_dir, home = _copy_of_cli_template(cli_template, directory)
    _sms_runner_stopped(home)
    started = UI(home, data_dir, directory / "ui.log")
    try:
        started.wait_until_loaded()
        yield started
    finally:
        started.stop()


@pytest.fixture
def ui(shared_ui: UI, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> UI:
    """The session's UI; CAMPAIGN_DATA_DIR and DAGSTER_HOME name its data directory and home
    for whatever the test runs in this process or starts. It is stopped after the session's
    last test that uses it, not left to idle while the other tests run."""
    if not shared_ui.running():
        pytest.fail(f"dg dev exited with {shared_ui.process.returncode}:\n{shared_ui.said()}")
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(shared_ui.data_dir))
    monkeypatch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(shared_ui.home))
    forget_rebuilt_jobs()
    if request.node is _last_test_using_ui(request.session):
        request.addfinalizer(shared_ui.stop)
    return shared_ui
