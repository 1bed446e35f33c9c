"""`campaigns metrics ...` in process over a real data directory: backfill (one Dagster run in
the instance), show as a table and JSON, outcome as JSON and text, report."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from campaign_pipelines.cli import main
from campaign_pipelines_tests.metrics.ledgers import (
    CODE,
    FIRST,
    KEY,
    NO_CONTROL_CODE,
    warehouse,
)
from campaign_pipelines_tests.templates import copy_into

OUTCOME_FIELDS = {"target_rate", "control_rate", "uplift_abs", "uplift_abs_ci", "p_value",
                  "srm_p_value", "reason"}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metrics_template: Path) -> Path:
    """The ledgers, the outcome world and campaign legacy_text (conftest.py), copied."""
    directory = tmp_path / "data"
    copy_into(metrics_template, directory)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(directory))
    monkeypatch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
    return directory


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_a_30_day_backfill_then_show_as_json_and_as_a_table(data, capsys):
    last = FIRST + timedelta(days=29)
    assert main(["metrics", "backfill", "--from", str(FIRST), "--to", str(last)]) == 0
    body = _json(capsys)
    assert body["success"] and body["days"] == 30 and body["rows"] > 0
    assert main(["metrics", "show", "--from", str(FIRST), "--to", str(last), "--json"]) == 0
    rows = _json(capsys)
    assert len(rows) == body["rows"]
    promo = [r for r in rows if r["campaign"] == "promo" and r["day"] == str(FIRST)]
    assert promo == [{**promo[0], "channel": "sms", "queued": 5, "sent": 5, "delivered": 2,
                      "failed": 2, "replies": 2, "opt_outs": 1}]
    assert main(["metrics", "show", "--campaign", "promo", "--from", str(FIRST), "--to",
                 str(last)]) == 0
    table = capsys.readouterr().out
    assert "promo" in table and "delivery_rate" in table and "C000000900" not in table


def test_a_backfill_of_days_not_over_yet_is_refused(data, capsys):
    assert main(["metrics", "backfill", "--from", "2026-03-01", "--to", "2100-01-01"]) == 2
    assert "give days from 2026-01-01" in _json(capsys)["message"]


def test_show_without_rows_says_how_to_make_them(data, capsys):
    assert main(["metrics", "show", "--from", "2026-02-01", "--to", "2026-02-02"]) == 0
    assert "campaigns metrics backfill" in capsys.readouterr().out


def test_outcome_json_has_the_rates_uplift_and_tests(data, capsys):
    assert main(["metrics", "outcome", CODE, "--json"]) == 0
    body = _json(capsys)
    assert OUTCOME_FIELDS <= set(body) and body["campaign_key"] == KEY
    assert (body["target_rate"], body["control_rate"]) == (pytest.approx(0.12),
                                                           pytest.approx(0.08))
    low, high = body["uplift_abs_ci"]
    assert low < body["uplift_abs"] < high and body["reason"] is None
    assert 0 < body["p_value"] < 1 and 0 < body["srm_p_value"] <= 1


def test_outcome_without_control_or_target_action_says_why(data, capsys):
    assert main(["metrics", "outcome", NO_CONTROL_CODE, "--json"]) == 0
    body = _json(capsys)
    assert body["uplift_abs"] is None and body["reason"].startswith("no control group")
    assert main(["metrics", "outcome", "legacy_text", "--json"]) == 0
    body = _json(capsys)
    assert body["target_users"] == 40 and body["srm_p_value"] is not None
    assert body["target_rate"] is None and body["uplift_abs"] is None
    assert body["reason"].startswith("no target action: the request's metadata.target_action "
                                     "is 'Оформить кредит'")
    assert main(["metrics", "outcome", "legacy_text", "--action", "loan_opened", "--json"]) == 0
    assert _json(capsys)["target_rate"] == 0.0


def test_outcome_as_text_and_an_unknown_campaign(data, capsys):
    assert main(["metrics", "outcome", KEY]) == 0
    text = capsys.readouterr().out
    assert "uplift +4.00 pts (95% CI" in text and "12.00%" in text
    assert main(["metrics", "outcome", "C999999999", "--json"]) == 2
    assert "no campaign 'C999999999' in the registry" in _json(capsys)["message"]


def test_report_writes_the_html_file(data, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["metrics", "report", CODE, "--out", str(out)]) == 0
    assert _json(capsys)["report"] == str(out)
    page = out.read_text(encoding="utf-8")
    assert CODE in page and "data:image/png;base64," in page


def test_db_init_creates_kpi_daily_and_db_ddl_prints_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path / "fresh"))
    assert main(["db", "init"]) == 0
    with warehouse(tmp_path / "fresh").connect() as connection:
        columns = connection.execute("SELECT column_name, data_type FROM "
                                     "information_schema.columns WHERE table_name = "
                                     "'kpi_daily' AND column_name LIKE '%rate'").fetchall()
    assert sorted(columns) == [("delivery_rate", "DOUBLE"), ("failure_rate", "DOUBLE"),
                               ("opt_out_rate", "DOUBLE")]
    capsys.readouterr()
    for dialect in ("oracle", "duckdb"):
        assert main(["db", "ddl", "--dialect", dialect]) == 0
        assert "campaign_ops.kpi_daily (" in capsys.readouterr().out
