"""The HTML report as a file: values escaped and masked, charts embedded, no external request,
the cases without an uplift explained. (test_report_browser.py checks the rendered page.)"""

from __future__ import annotations

import base64
import re
import stat

import pytest

from campaign_pipelines.adapters.metrics_report import write_report
from campaign_pipelines.core.metrics.charts import PNG_SIGNATURE
from campaign_pipelines.core.metrics.outcomes import Period, measure
from campaign_pipelines_tests.metrics.worlds import ACTION, END, START, world

PERIOD = Period(START, END, window_days=3)
FIGURES = {
    "campaign": {"code": "C000000042", "name": "Spring <script>alert(1)</script> & co",
                 "type": "RB1", "period": f"{START} to {END}"},
    "funnel": {"input": 20_000, "after_blacklist": 19_500, "final": 19_000},
    "deployment": {"dssb_ocds.mb22_local_target": 17_100, "dssb_ocds.mb21_local_control": 1_900},
    "sends": {"email": {"queued": 10, "sent": 9, "failed": 1},
              "sms": {"queued": 5, "sent": 5, "delivered": 4, "delivery_rate": 0.8}},
    "notes": [{"by": "ann@example.com", "text": "client 900101300123 called, +7 701 234 5678"}],
}


def outcome_of(target_rate: float, control_rate: float, share: float, requested: float | None,
               users: int = 20_000):
    w = world(users, target_rate, control_rate, share)
    return measure(w.target, w.control, w.events, ACTION, PERIOD, requested)


@pytest.fixture(scope="module")
def uplift_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "deeper" / "report.html"
    assert write_report(outcome_of(0.12, 0.08, 0.10, 0.10), FIGURES, out) == out
    return out.read_text("utf-8")


def test_every_value_is_escaped_and_no_personal_identifier_is_whole(uplift_report):
    assert "<script>" not in uplift_report
    assert "Spring &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in uplift_report
    for whole in ("900101300123", "ann@example.com", "701 234 5678"):
        assert whole not in uplift_report
    assert "90********23" in uplift_report and "a***@example.com" in uplift_report
    assert "C000000042" in uplift_report  # campaign codes identify no one: kept


def test_both_charts_are_embedded_pngs_and_nothing_is_fetched(uplift_report):
    images = dict(re.findall(r'<img id="([\w-]+)"[^>]*src="data:image/png;base64,([^"]+)"',
                             uplift_report))
    assert set(images) == {"conversion-chart", "cumulative-chart"}
    for encoded in images.values():
        assert base64.b64decode(encoded).startswith(PNG_SIGNATURE)
    assert not re.search(r'(src|href)="(?!data:)', uplift_report)
    assert "http://" not in uplift_report and "https://" not in uplift_report
    assert "<link" not in uplift_report and "@import" not in uplift_report


def test_the_uplift_its_interval_the_p_value_and_a_passing_ratio_check_are_stated(uplift_report):
    uplift = re.search(r'id="uplift">(.*?)</p>', uplift_report)[1]
    assert re.search(r"Uplift: <strong>\+\d\.\d\d points</strong> \(95% CI \+\d\.\d\d points "
                     r"to \+\d\.\d\d points\).*p-value", uplift), uplift
    assert "the interval excludes 0" in uplift_report
    assert 'class="ok" id="srm">Sample ratio as requested' in uplift_report
    assert "Sample-ratio mismatch" not in uplift_report


def test_figures_are_titled_tables_in_their_given_order(uplift_report):
    titles = re.findall(r'<section class="figures" id="figures-(\w+)"><h2>([^<]+)</h2>',
                        uplift_report)
    assert titles == [("campaign", "Campaign"), ("funnel", "Audience funnel"),
                      ("deployment", "Deployed rows"), ("sends", "Sends by channel"),
                      ("notes", "Notes")]
    sends = re.search(r'id="figures-sends">(.*?)</section>', uplift_report)[1]
    assert "<th>delivered</th>" in sends and "<td>email</td>" in sends
    assert "<td class=n>0.8</td>" in sends and "<td class=n>19,500</td>" in uplift_report


def test_a_skewed_split_is_a_warning_not_to_trust_the_uplift(tmp_path):
    out = write_report(outcome_of(0.12, 0.08, 0.14, 0.10), {}, tmp_path / "skewed.html")
    page = out.read_text("utf-8")
    warning = re.search(r'<div class="warning" role="alert" id="srm">(.*?)</div>', page)[1]
    assert "14.00%" in warning and "10.00%" in warning and "do not trust the uplift" in warning


def test_without_a_control_group_it_says_why_and_still_draws_its_charts(tmp_path):
    out = write_report(outcome_of(0.12, 0.08, 0.0, None, users=2_000), {}, tmp_path / "r.html")
    page = out.read_text("utf-8")
    assert 'id="no-uplift">No uplift interval reported: no control group' in page
    assert 'id="uplift"' not in page and "p-value" not in page.split("<footer>")[0]
    assert "Sample-ratio check not run: no control share was requested" in page
    assert page.count("data:image/png;base64,") == 2
    assert "<h1>Campaign outcome</h1>" in page  # no campaign figures: a plain title


def test_the_file_is_replaced_whole_and_readable_like_a_saved_report(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("old")
    outcome = outcome_of(0.1, 0.1, 0.5, 0.5, users=2_000)
    write_report(outcome, {"campaign": {"code": "C000000001"}}, out)
    first = out.read_bytes()
    write_report(outcome, {"campaign": {"code": "C000000001"}}, out)
    assert out.read_bytes() == first != b"old"  # deterministic, replaced
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left
    assert "the interval includes 0" in first.decode()
