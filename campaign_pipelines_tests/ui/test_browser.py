"""The Dagster UI in a real browser, as a data engineer uses it: `dg dev` (what `make ui` starts;
the session's one, dagster_ui.py, which the many-processes soak uses before or after this test,
never beside it) over a DAGSTER_HOME after `campaigns db init` and `campaigns reference
refresh`, one campaign request admitted (its partition exists, nothing built), then in Chromium:
the asset catalog, campaign_job's Materialize button, the partition picked in the launch dialog,
the run, and the filter funnel on filtered_audience's page for that partition.

Chromium is Debian's (`/usr/bin/chromium`, installed by .ci/run), driven by playwright's own
driver; playwright never downloads a browser here. On failure the page is saved as
``ui-failure.png`` in the test's tmp_path and the UI's log is quoted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign_pipelines.defs.audiences.metadata import FUNNEL
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.dagster_ui import GROUP, UI, graphql

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PARTITION = "browser_check"  # the request file's stem is the campaign's partition key

pytestmark = [
    pytest.mark.long_pole(seconds=40),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: Debian's chromium "
                       "package is not installed (.ci/run installs it with apt-get)"),
]


@pytest.fixture
def request_admitted(ui: UI, tmp_path: Path) -> None:
    """The request admitted in the UI's instance: its partition exists and nothing has been
    built for it."""
    from campaign_pipelines.service import open_location, register

    request = tmp_path / f"{PARTITION}.json"  # outside landing/: the sensor does not take it
    request.write_text(request_text(), encoding="utf-8")
    location = open_location()
    try:
        assert register(location, request).admitted.key == PARTITION
    finally:
        location.instance.dispose()


@pytest.mark.xdist_group(GROUP)
@pytest.mark.usefixtures("request_admitted")
def test_a_campaign_partition_launched_from_the_ui_runs_and_shows_its_funnel(ui, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)
        # A first visit is greeted by Dagster's newsletter dialog, which takes clicks meant for
        # the page: the instance is told it was seen, as its Skip button does.
        assert graphql(ui.base, "mutation { setNuxSeen }") == {"setNuxSeen": True}
        try:
            page.goto(f"{ui.base}/assets")
            expect(page.get_by_role("link", name="filtered_audience").first).to_be_visible()

            page.get_by_role("navigation").get_by_role("link", name="Jobs").click()
            page.get_by_role("link", name="campaign_job").first.click()
            page.get_by_role("button", name="Materialize all…").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Select a partition or create one").click()
            # Typed, as a user finds one campaign among many: the menu lists only so many, and
            # the soak, when it runs first, leaves dozens of partitions before this one.
            page.keyboard.type(PARTITION)
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
