"""The Dagster UI in a real browser, as a data engineer uses it: `dg dev` (what `make ui` starts)
over a DAGSTER_HOME after `campaigns db init` and `campaigns reference refresh`, one campaign
request admitted (its partition exists, nothing built), then in Chromium: the asset catalog,
campaign_job's Materialize button, the partition picked in the launch dialog, the run, and the
filter funnel on filtered_audience's page for that partition.

Chromium is Debian's (`/usr/bin/chromium`, installed by .ci/run), driven by playwright's own
driver; playwright never downloads a browser here. On failure the page is saved as
``ui-failure.png`` in the test's tmp_path and the UI's log is quoted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign_pipelines.defs.audiences.metadata import FUNNEL
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.schedule_state import stop_sms_runner
from campaign_pipelines_tests.templates import ROOT, use_cli_template

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DG = str(Path(sys.executable).with_name("dg"))
PARTITION = "browser_check"  # the request file's stem is the campaign's partition key
UI_START_S = 90  # the webserver, the daemon and the code server on two busy cores
RUN_S = 60  # a campaign of three rows runs in seconds (every job runs in process)

pytestmark = [
    pytest.mark.long_pole(seconds=40),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: Debian's chromium "
                       "package is not installed (.ci/run installs it with apt-get)"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
RUN_STATUS = """query ($id: ID!) { runOrError(runId: $id) {
    __typename ... on Run { status jobName tags { key value } } } }"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class UI:
    """`dg dev` in its own process group, its output in ``log``."""

    def __init__(self, home: Path, log: Path):
        self.base = f"http://127.0.0.1:{_free_port()}"
        self.log = log
        with log.open("wb") as out:  # the child keeps its own descriptor
            # From DAGSTER_HOME, as `make ui` runs it (the Makefile says why).
            self.process = subprocess.Popen(
                [DG, "dev", "-w", str(ROOT / "workspace.yaml"), "--host", "127.0.0.1",
                 "--port", self.base.rsplit(":", 1)[1]],
                cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def said(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_loaded(self) -> None:
        """Returns once the code location is loaded; fails with its error if it cannot load."""
        deadline = time.monotonic() + UI_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dg dev exited with {self.process.returncode}:\n{self.said()}")
            try:
                entries = _graphql(self.base, LOCATIONS)["workspaceOrError"]["locationEntries"]
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
            run = _graphql(self.base, RUN_STATUS, {"id": run_id})["runOrError"]
            if run["__typename"] == "Run" and run["status"] in FINISHED:
                return run
            time.sleep(0.5)
        pytest.fail(f"run {run_id} did not finish in {RUN_S} s:\n{self.said()}")

    def stop(self) -> None:
        """SIGTERM to `dg dev`, which stops its webserver, daemon and code server; whatever of
        its process group is left after 20 s is killed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@pytest.fixture
def ui(data_dir, cli_template, tmp_path, monkeypatch) -> Iterator[UI]:
    """The UI over a copy of cli_template with the request admitted: its partition exists and
    nothing has been built for it."""
    from campaign_pipelines.service import open_location, register

    home = use_cli_template(cli_template, tmp_path, monkeypatch)
    request = tmp_path / f"{PARTITION}.json"  # outside landing/: the sensor does not take it
    request.write_text(request_text(), encoding="utf-8")
    location = open_location()
    assert register(location, request).admitted.key == PARTITION
    stop_sms_runner(location.instance, "campaign_pipelines")  # workspace.yaml's location name
    location.instance.dispose()
    started = UI(home, tmp_path / "ui.log")
    try:
        started.wait_until_loaded()
        yield started
    finally:
        started.stop()


def test_a_campaign_partition_launched_from_the_ui_runs_and_shows_its_funnel(ui, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)
        # A first visit is greeted by Dagster's newsletter dialog, which takes clicks meant for
        # the page: the instance is told it was seen, as its Skip button does.
        assert _graphql(ui.base, "mutation { setNuxSeen }") == {"setNuxSeen": True}
        try:
            page.goto(f"{ui.base}/assets")
            expect(page.get_by_role("link", name="filtered_audience").first).to_be_visible()

            page.get_by_role("navigation").get_by_role("link", name="Jobs").click()
            page.get_by_role("link", name="campaign_job").first.click()
            page.get_by_role("button", name="Materialize all…").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Select a partition or create one").click()
            page.get_by_role("menuitem").filter(has_text=PARTITION).first.click()
            page.keyboard.press("Escape")  # closes the picker, not the dialog
            expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
            dialog.get_by_role("button", name="Launch 1 run").click()
            toast = page.get_by_role("region", name="Notifications")
            toast.get_by_role("link", name="View").click()  # "Launched run …"
            page.wait_for_url("**/runs/*")
            run_page = page.url
            run_id = run_page.rsplit("/runs/", 1)[1].split("?")[0]

            # The run's live page (its Gantt chart redrawn as events arrive) is left while the
            # run goes: the browser drew it for seconds of CPU, and what is checked below is
            # the page as it stands once the run is over.
            page.goto("about:blank")
            run = ui.wait_for_run(run_id)
            tags = {tag["key"]: tag["value"] for tag in run["tags"]}
            assert (run["jobName"], tags.get("dagster/partition")) == ("campaign_job", PARTITION)
            assert run["status"] == "SUCCESS", ui.said()
            page.goto(run_page)
            expect(page.get_by_text("Success", exact=True).first).to_be_visible()
            expect(page.get_by_text("RUN_SUCCESS").first).to_be_visible()

            page.goto(f"{ui.base}/assets/filtered_audience?view=partitions&partition={PARTITION}")
            expect(page.get_by_text("Latest materialization")).to_be_visible()
            expect(page.get_by_text(run_id[:8]).first).to_be_visible()
            # The funnel table (its columns from the asset's own schema) and the legacy funnel's
            # names (README: "filter_stats keeps the legacy names").
            funnel = page.locator("table").filter(has_text=FUNNEL.columns[1].name).first
            for column in FUNNEL.columns:
                expect(funnel.get_by_text(column.name, exact=True).first).to_be_visible()
            expect(page.get_by_text("after_blacklist").first).to_be_visible()
        except BaseException:
            page.screenshot(path=str(tmp_path / "ui-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
