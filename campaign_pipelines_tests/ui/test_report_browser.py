"""The HTML report as a person sees it: written by write_report, opened from disk in headless
Chromium (Debian's, as test_browser.py launches it; playwright downloads no browser), and the
rendered page checked: both charts decoded (naturalWidth > 0), the uplift and its interval
visible, and the sample-ratio warning visible when the split is skewed. Every request the page
makes is recorded: a self-contained report makes none beyond its own file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from campaign_pipelines.adapters.metrics_report import write_report
from campaign_pipelines.core.metrics.outcomes import Period, measure
from campaign_pipelines_tests.metrics.worlds import ACTION, END, START, world
from campaign_pipelines_tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: Debian's chromium "
                       "package is not installed (.ci/run installs it with apt-get)"),
    # Both tests on one xdist worker: the module's one browser starts once, not on each.
    pytest.mark.xdist_group("report_browser"),
]

FIGURES = {"campaign": {"code": "C000000007", "name": "Loyalty cashback", "type": "RB3"},
           "funnel": {"input": 20_000, "final": 20_000}}


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _open(browser, tmp_path, control_share: float):
    from playwright.sync_api import expect

    w = world(20_000, 0.12, 0.08, control_share)
    outcome = measure(w.target, w.control, w.events, ACTION, Period(START, END), 0.10)
    out = write_report(outcome, FIGURES, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(5_000)
    expect.set_options(timeout=5_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(out.as_uri(), wait_until="load")
    return page, requested, out


def test_the_report_shows_its_charts_and_the_uplift_with_its_interval(browser, tmp_path):
    from playwright.sync_api import expect

    page, requested, out = _open(browser, tmp_path, control_share=0.10)
    try:
        for chart in ("#conversion-chart", "#cumulative-chart"):
            image = page.locator(chart)
            expect(image).to_be_visible()
            assert image.evaluate("img => img.complete && img.naturalWidth") > 0, chart
        uplift = page.locator("#uplift")
        expect(uplift).to_be_visible()
        expect(uplift).to_contain_text("Uplift: +")
        expect(uplift).to_contain_text("95% CI +")
        expect(page.locator("#verdict")).to_contain_text("the interval excludes 0")
        expect(page.locator("#srm")).to_contain_text("Sample ratio as requested")
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(page.get_by_role("heading", name="Audience funnel")).to_be_visible()
        assert page.title() == "Campaign outcome: Loyalty cashback · C000000007"
        assert requested == [out.as_uri()], requested  # nothing fetched beyond the file
    finally:
        page.close()


def test_a_skewed_split_shows_the_sample_ratio_warning(browser, tmp_path):
    from playwright.sync_api import expect

    page, _, _ = _open(browser, tmp_path, control_share=0.14)
    try:
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("Sample-ratio mismatch")
        expect(alert).to_contain_text("14.00%")
        expect(alert).to_contain_text("do not trust the uplift")
    finally:
        page.close()
