"""The demo's client events (campaign_pipelines/demo/client_events.py, run by `make demo` after
`campaigns run-pending`): read back from a warehouse holding deployed campaigns, each group
converts at its designed rate, the noise leaves those rates alone, and a rerun replaces the
table with the same rows."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.core.metrics.outcomes import Period, measure
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines.demo import client_events
from campaign_pipelines.demo.client_events import (
    CLIENT_EVENTS_TABLE,
    EFFECTS,
    NO_EFFECT,
    write_client_events,
)
from campaign_pipelines.demo.landing_samples import LOYALTY_BONUS_RB3, SPRING_PUSH_RB1

# (key, code, action, start, end, target members, control members)
CAMPAIGNS = (
    ("loyalty_bonus_rb3", "C000000003", "spend", date(2026, 12, 5), date(2026, 12, 31), 1000, 250),
    ("spring_push_rb1", "C000000002", "purchase", date(2026, 12, 1), date(2026, 12, 31), 500, 50),
    ("seed_example_rb1", "C000000001", "Buy it!", date(2024, 3, 1), date(2024, 3, 31), 40, 0),
    ("no_action", "C000000004", None, date(2024, 3, 1), date(2024, 3, 31), 40, 0),
)
CUSTOMERS = 5_000


def _iins(first: int, count: int) -> list[str]:
    return [f"{n:012d}" for n in range(first, first + count)]


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    """The project's tables (`campaigns db init`), a bank of CUSTOMERS and three deployed
    campaigns with disjoint members, written as deployment leaves them."""
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    DuckDBDeployment(warehouse).init_schema()
    with warehouse.connect() as connection:
        connection.execute("CREATE TABLE sources.customers (iin VARCHAR)")
        connection.execute("INSERT INTO sources.customers SELECT unnest($1)",
                           [_iins(100_000_000_000, CUSTOMERS)])
        first = 100_000_000_000
        for key, code, action, start, end, targets, controls in CAMPAIGNS:
            connection.execute(
                "INSERT INTO campaign_ops.campaign_registry (campaign_key, campaign_code, "
                "campaign_type, date_start, date_end) VALUES (?, ?, 'RB1', ?, ?)",
                [key, code, start, end])
            connection.execute("INSERT INTO dssb_ocds.mb01_camp_dict (CAMPAIGNCODE, "
                               "TARGET_ACTION) VALUES (?, ?)", [code, action])
            for table, count in (("mb22_local_target", targets), ("mb21_local_control", controls)):
                connection.execute(f"INSERT INTO dssb_ocds.{table} (CAMPAIGNCODE, IIN) "  # noqa: S608
                                   "SELECT ?, unnest(?)", [code, _iins(first, count)])
                first += count
    return warehouse


def _groups(warehouse: DuckDBWarehouse, code: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return tuple(warehouse.fetch(  # type: ignore[return-value]
        f"SELECT IIN AS iin FROM dssb_ocds.{table} WHERE CAMPAIGNCODE = $code",  # noqa: S608
        {"code": code}) for table in ("mb22_local_target", "mb21_local_control"))


def test_each_group_converts_at_its_designed_rate_and_only_the_loyalty_cashback_works(warehouse):
    summary = write_client_events(warehouse.path)
    events = warehouse.fetch(f"SELECT * FROM {CLIENT_EVENTS_TABLE}")  # noqa: S608
    assert events.height == summary["rows"] > CUSTOMERS  # conversions and noise
    outcomes = {}
    for key, code, action, start, end, targets, controls in CAMPAIGNS[:2]:
        target, control = _groups(warehouse, code)
        outcome = measure(target, control, events, action, Period(start, end, 7),
                          controls / (targets + controls))
        effect = EFFECTS.get(key, NO_EFFECT)
        # Exact counts, and noise adds none: even the 7-day window after the end finds no more.
        assert outcome.target_conversions == round(effect.target_rate * targets)
        assert outcome.control_conversions == round(effect.control_rate * controls)
        assert outcome.srm_ok is True
        outcomes[key] = outcome
    low, high = outcomes["loyalty_bonus_rb3"].uplift_abs_ci
    assert 0 < low < 0.08 < high  # a true 8-point uplift, seen
    low, high = outcomes["spring_push_rb1"].uplift_abs_ci
    assert low < 0 < high  # no effect
    notes = {row["key"]: row.get("note") for row in summary["campaigns"]}
    assert notes["seed_example_rb1"] == notes["no_action"] == (
        "no TARGET_ACTION spelled as an event name in its metadata: no conversions generated")
    assert notes["spring_push_rb1"] is None


def test_conversions_fall_in_their_period_and_the_noise_spares_the_members_actions(warehouse):
    write_client_events(warehouse.path)
    events = warehouse.fetch(f"SELECT * FROM {CLIENT_EVENTS_TABLE}")  # noqa: S608
    _, code, action, start, end, *_ = CAMPAIGNS[0]
    target, control = _groups(warehouse, code)
    members = pl.concat([target, control]).get_column("iin")
    converted = events.filter(pl.col("iin").is_in(members.implode()), event=action)
    assert converted.height == converted.get_column("iin").n_unique() > 0  # one event each
    assert converted.get_column("event_date").is_between(start, end).all()
    others = events.filter(~pl.col("iin").is_in(members.implode()), event=action)
    assert others.height > 0  # the action happens among clients outside the campaign too
    assert set(events.get_column("event")) == {"app_login", "card_payment", "transfer",
                                               "purchase", "spend"}


def test_a_rerun_replaces_the_table_with_the_same_rows(warehouse):
    write_client_events(warehouse.path)
    first = warehouse.fetch(f"SELECT * FROM {CLIENT_EVENTS_TABLE} ORDER BY ALL")  # noqa: S608
    write_client_events(warehouse.path)
    again = warehouse.fetch(f"SELECT * FROM {CLIENT_EVENTS_TABLE} ORDER BY ALL")  # noqa: S608
    assert again.equals(first)
    nullable = warehouse.fetch("SELECT column_name, is_nullable FROM information_schema.columns "
                               "WHERE table_name = 'client_events' ORDER BY ordinal_position")
    assert nullable.rows() == [("iin", "NO"), ("event", "NO"), ("event_date", "NO")]


def test_the_module_prints_what_it_wrote(warehouse, monkeypatch, capsys):
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(warehouse.path.parent))
    assert client_events.main() == 0
    out = capsys.readouterr().out
    assert f"{CLIENT_EVENTS_TABLE}: " in out
    assert "C000000003 (loyalty_bonus_rb3) on spend: target 160 of 1,000, control 20 of 250" in out


def test_the_demo_requests_with_an_effect_have_a_control_group_and_a_target_action():
    requests = {"loyalty_bonus_rb3": LOYALTY_BONUS_RB3, "spring_push_rb1": SPRING_PUSH_RB1}
    assert set(EFFECTS) == set(requests)
    for request in requests.values():
        parsed = parse_request(json.dumps(request, ensure_ascii=False))
        assert parsed.control_group is not None and parsed.control_group.share > 0
        assert parsed.metadata.target_action in {"spend", "purchase"}

