"""The benchmarks still run at tiny sizes and print figures that add up; no timing is asserted
(figures come from `make bench`), only that each one parses as a number of seconds."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench(tmp_path: Path, script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(BENCH / script), *args],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.long_pole(seconds=8)
def test_audience_bench_prints_its_phases_and_polars_and_pandas_agree(tmp_path):
    out = _bench(tmp_path, "bench_audience.py", "--customers", "2000", "--upload-rows", "2000",
                 "--data-dir", str(tmp_path / "bench"))
    phases = {name: ast.literal_eval(body) for name, body in
              re.findall(r"^(setup|filter|pipeline|pandas): (\{.*\})$", out, re.MULTILINE)}
    assert set(phases) == {"setup", "filter", "pipeline", "pandas"}, out
    assert phases["setup"]["upload_rows"] == 2_000
    assert 0 < phases["filter"]["input"] <= 2_000
    assert 0 < phases["filter"]["final"] == phases["pandas"]["final"]  # the same audience
    assert phases["pipeline"]["success"] is True
    summary = re.search(r"^filter ([\d.]+) s .*; end to end ([\d.]+) s .*; peak RSS (\d+) MB",
                        out, re.MULTILINE)
    assert summary, out
    assert float(summary[1]) == phases["filter"]["filter_s"]
    assert float(summary[2]) == phases["pipeline"]["end_to_end_s"] > 0
    assert int(summary[3]) == phases["pipeline"]["peak_rss_mb"] > 0


def test_deploy_bench_writes_every_row_twice(tmp_path):
    out = _bench(tmp_path, "bench_deploy.py", "--target", "10000", "--control", "1000")
    attempts = re.findall(r"^(first deploy|re-deploy \(replaces\)): (.*)$", out, re.MULTILINE)
    assert [name for name, _ in attempts] == ["first deploy", "re-deploy (replaces)"], out
    for _, line in attempts:
        written = {t: (_number(rows), float(s))
                   for t, rows, s in re.findall(r"(\w+) ([\d,]+) rows ([\d.]+) s", line)}
        assert {t: rows for t, (rows, _) in written.items()} == {
            "mb22_local_target": 10_000, "mb21_local_control": 1_000,
            "fd_rb2_campaigns_users": 10_000, "off_limit_campaigns_users": 11_000}
        assert all(seconds >= 0 for _, seconds in written.values())
    totals = re.findall(r"target\+control ([\d,]+) rows in ([\d.]+) s", out)
    assert [_number(rows) for rows, _ in totals] == [11_000, 11_000]
    assert all(float(seconds) > 0 for _, seconds in totals)


def test_streaks_bench_times_each_stage_and_its_summary_adds_up(tmp_path):
    out = _bench(tmp_path, "bench_streaks.py", "--users", "10000")
    assert re.search(r"^users=10,000 rules=\d+", out, re.MULTILINE), out
    stages = dict(re.findall(r"^(\S.*?)\s{2,}([\d.]+) s", out, re.MULTILINE))
    assert set(stages) == {"generate state + activity", "rule engine (decide), all users pending",
                           "batch eligibility", "daily plan (plan_day)"}, out
    assert all(float(seconds) >= 0 for seconds in stages.values())
    summary = ast.literal_eval(re.search(r"^  summary (\{.*\})$", out, re.MULTILINE)[1])
    assert summary["audit_rows"] > 0
    assert summary["blocked_total"] == sum(summary["blocked_per_campaign"].values())


def test_send_bench_sends_every_email_through_each_provider(tmp_path):
    out = _bench(tmp_path, "bench_send.py", "--emails", "70")
    assert "Sending 70 due e-mails (10 signups × 7)" in out, out
    lines = re.findall(r"^  (\S.*?)\s+([\d,]+) sent in\s+([\d.]+) s\s+([\d,]+) e-mails/s",
                       out, re.MULTILINE)
    assert [label for label, *_ in lines] == [
        "engine only (a provider that accepts at once)", "outbox (.eml files, fsynced)",
        "Resend API fake on loopback (HTTP)"], out
    for _, sent, seconds, rate in lines:
        assert _number(sent) == 70 and float(seconds) > 0 and _number(rate) > 0


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (apt-get install -y wrk): the ingress bench "
                    "loads its servers with it")
@pytest.mark.long_pole(seconds=6)
def test_ingress_bench_loads_the_anchor_and_ours_and_every_accepted_line_is_on_disk(tmp_path):
    anchor = Path(os.environ.get("INGRESS_ANCHOR_DIR") or BENCH.parent.parent / "shared"
                  / "anchors" / "ingress")  # where bench_ingress.py looks
    if not (anchor / "naive_fastapi_fsync.py").is_file():
        pytest.skip(f"no ingress anchor in {anchor}: set INGRESS_ANCHOR_DIR")
    out = _bench(tmp_path, "bench_ingress.py", "--duration", "1", "--connections", "2",
                 "--workers", "1")
    assert re.search(r"^wrk -t1 -c2 -d1s --latency", out, re.MULTILINE), out
    servers = re.findall(
        r"^(\S.*?)\s+([\d,]+) req/s  p50\s+([\d.]+) ms  p99\s+([\d.]+) ms  x([\d.]+)  "
        r"accepted ([\d,]+) on disk ([\d,]+) \((.*)\); socket errors ", out, re.MULTILINE)
    assert [name for name, *_ in servers] == ["anchor (naive, 1 worker)",
                                              "campaigns serve --workers 1"], out
    for _, rps, p50, p99, ratio, accepted, on_disk, durable in servers:
        assert _number(rps) > 0 and float(ratio) > 0
        assert 0 < float(p50) <= float(p99)
        assert 0 < _number(accepted) <= _number(on_disk) and durable == "ok"
    assert re.search(r"^best: campaigns serve --workers 1 \([\d.]+x", out, re.MULTILINE), out


def test_metrics_bench_measures_an_outcome_and_rolls_up_the_ledgers(tmp_path):
    out = _bench(tmp_path, "bench_metrics.py", "--users", "20000", "--events", "100000",
                 "--ledger-rows", "20000", "--days", "3")
    outcome = re.search(r"^outcome: users=([\d,]+) control=([\d,]+) events=([\d,]+) "
                        r"measure ([\d.]+) s", out, re.MULTILINE)
    assert outcome, out
    users, control, events = (_number(outcome[n]) for n in (1, 2, 3))
    assert users == 20_000 and 0 < control < users and events == 100_000
    assert float(outcome[4]) > 0
    found = re.search(r"^  found: target ([\d.]+) control ([\d.]+) uplift ([+-][\d.]+) "
                      r"\[([+-][\d.]+), ([+-][\d.]+)\]", out, re.MULTILINE)
    assert found, out
    assert float(found[1]) > 0 and float(found[2]) > 0
    assert 0 < float(found[4]) < float(found[3]) < float(found[5])  # the true 4 points, seen
    rollup = re.search(r"^rollup: days=3 ledger_rows=([\d,]+) kpi_rows=([\d,]+) "
                       r"daily_kpis ([\d.]+) s", out, re.MULTILINE)
    assert rollup, out
    assert _number(rollup[1]) == 20_000 and _number(rollup[2]) > 0 and float(rollup[3]) > 0
    assert re.search(r"^  queued counted 20,000 of 20,000 ledger rows", out, re.MULTILINE), out
    assert int(re.search(r"^peak RSS ([\d,]+) MB", out, re.MULTILINE)[1].replace(",", "")) > 0


def test_sms_bench_sends_every_message_and_pauses_within_ten(tmp_path):
    out = _bench(tmp_path, "bench_sms.py", "--messages", "200", "--providers", "outbox,http")
    lines = re.findall(
        r"^\s+(outbox|http):\s+([\d,]+) sent in\s+([\d.]+) s =\s+([\d,]+) messages/s; "
        r"engine overhead\s+([\d.]+) s =\s+([\d,]+) messages/s \(in the provider:\s+[\d.]+ s\); "
        r"pause at ([\d,]+): (\d+) sent after it \(paused\); resumed: ([\d,]+) \(Completed\)$",
        out, re.MULTILINE)
    assert [line[0] for line in lines] == ["outbox", "http"], out
    for _, sent, seconds, rate, engine_s, engine_rate, paused_at, after, resumed in lines:
        assert _number(sent) == 200  # the bench itself asserts the ledger: 200 sent, no other
        assert float(seconds) > 0 and _number(rate) > 0 and _number(engine_rate) > 0
        assert float(engine_s) <= float(seconds)
        assert int(after) <= 10
        assert _number(paused_at) + int(after) + _number(resumed) == 200  # the rest, once
