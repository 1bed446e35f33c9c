"""The metrics adapter over a real DuckDB warehouse: what it reads of each domain, the day's
rollup against counts taken straight from the ledgers in SQL, and kpi_daily's replace."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from campaign_pipelines.adapters.metrics_store import (
    MetricsInputError,
    read_activity,
    read_events,
)
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment
from campaign_pipelines.core.metrics.outcomes import Period
from campaign_pipelines.core.metrics.rollup import daily_kpis
from campaign_pipelines.core.requests import target_event
from campaign_pipelines_tests.metrics.ledgers import (
    DAYS,
    FIRST,
    request,
    warehouse,
)
from campaign_pipelines_tests.templates import copy_into

DAY = FIRST + timedelta(days=1)
DEPLOYED = "campaign_ops.campaign_deployments"
# Independent counts of DAY, written from the ledgers' own meaning, not from the adapter's SQL:
# (channel, count) -> (table, its UTC timestamp as TIMESTAMPTZ, what is counted, condition).
EXPECTED = {
    ("deploy", "target"): (DEPLOYED, "timezone('UTC', loaded_at)", "sum(row_count)",
                           "table_name = 'dssb_ocds.mb22_local_target'"),
    ("deploy", "control"): (DEPLOYED, "timezone('UTC', loaded_at)", "sum(row_count)",
                            "table_name = 'dssb_ocds.mb21_local_control'"),
    ("streaks", "assigned_batch"): ("campaign_ops.streak_audit", "recorded_at", "count(*)",
                                    "action = 'assigned' AND source = 'batch'"),
    ("streaks", "assigned_chain"): ("campaign_ops.streak_audit", "recorded_at", "count(*)",
                                    "action = 'assigned' AND source = 'chain'"),
    ("streaks", "blocked"): ("campaign_ops.streak_audit", "recorded_at", "count(*)",
                             "action = 'blocked'"),
    ("email", "queued"): ("campaign_ops.email_ledger", "due_at", "count(*)", "true"),
    ("email", "sent"): ("campaign_ops.email_ledger", "due_at", "count(*)",
                        "state IN ('sent', 'failed')"),
    ("email", "unsubscribes"): ("campaign_ops.email_suppressions", "received_at", "count(*)",
                                "reason = 'unsubscribed'"),
    ("sms", "queued"): ("campaign_ops.sms_ledger", "queued_at", "count(*)", "true"),
    ("sms", "sent"): ("campaign_ops.sms_ledger", "queued_at", "count(*)",
                      "state IN ('sent', 'delivered', 'undelivered', 'failed')"),
    ("sms", "delivered"): ("campaign_ops.sms_ledger", "queued_at", "count(*)",
                           "state = 'delivered'"),
    ("sms", "replies"): ("campaign_ops.sms_events", "received_at", "count(*)",
                         "kind = 'inbound' AND campaign IS NOT NULL"),
    ("sms", "opt_outs"): ("campaign_ops.sms_events", "received_at", "count(*)",
                          "outcome = 'opt_out'"),
}


def expected_sql(table: str, stamp: str, counted: str, condition: str) -> str:
    return (f"SELECT {counted} FROM {table} WHERE {condition} "  # noqa: S608 - constants
            f"AND timezone('Asia/Almaty', {stamp})::DATE = $day")


@pytest.fixture
def store(tmp_path, ledgers_template):
    """build_ledgers' warehouse in tmp_path (a copy of the session's, conftest.py)."""
    copy_into(ledgers_template, tmp_path)
    return warehouse(tmp_path)


def test_a_fresh_warehouse_has_no_domain_yet(tmp_path):
    activity = read_activity(warehouse(tmp_path), FIRST, FIRST)
    assert all(frame is None for frame in vars(activity).values())
    assert daily_kpis(activity, FIRST, FIRST).is_empty()


def test_only_the_days_rows_and_needed_columns_are_read(store):
    activity = read_activity(store, DAY, DAY)
    assert activity.sms_ledger.columns == ["campaign", "state", "queued_at"]
    assert activity.sms_events["kind"].unique().to_list() == ["inbound"]
    assert activity.email_unsubscribes.rows() == [("drip", activity.email_unsubscribes[0, 1])]
    assert activity.deployments.height == 2  # the day's two loads, not the other days'


def test_a_days_rollup_equals_independent_counts_from_the_ledgers(store):
    kpis = daily_kpis(read_activity(store, DAY, DAY), DAY, DAY)
    assert set(kpis["day"]) == {DAY}
    with store.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        for (channel, count), parts in EXPECTED.items():
            expected = connection.execute(expected_sql(*parts), {"day": DAY}).fetchone()[0]
            found = kpis.filter(pl.col("channel") == channel)[count].sum()
            assert expected and found == expected, (channel, count)


def test_replacing_days_twice_keeps_one_row_each_and_refuses_other_days(store):
    deployment = DuckDBDeployment(store)
    last = FIRST + timedelta(days=DAYS - 1)
    rows = daily_kpis(read_activity(store, FIRST, last), FIRST, last)
    assert deployment.replace_kpi_days(FIRST, last, rows) == rows.height
    assert deployment.replace_kpi_days(FIRST, last, rows) == rows.height
    assert deployment.kpi_rows(FIRST, last).equals(rows)
    assert deployment.kpi_rows(FIRST, last, "promo")["channel"].unique().to_list() == ["sms"]
    with pytest.raises(ValueError, match="cannot replace the days"):
        deployment.replace_kpi_days(DAY, DAY, rows)
    assert deployment.kpi_rows(FIRST, last).height == rows.height


def test_no_kpi_table_reads_as_no_rows(tmp_path):
    assert DuckDBDeployment(warehouse(tmp_path)).kpi_rows(date(2026, 1, 1),
                                                          date(2026, 1, 2)).is_empty()


@pytest.mark.parametrize(("written", "event"), [
    ("loan_opened", "loan_opened"), ("spend", "spend"), ("Оформить кредит", None),
    ("Loan", None), ("x" * 65, None), (None, None)])
def test_the_target_event_is_the_target_action_spelled_as_an_event_name(written, event):
    assert target_event(request(0.1, target_action=written).metadata) == event


def test_missing_client_events_say_what_to_load(tmp_path):
    store = warehouse(tmp_path)
    DuckDBDeployment(store).init_schema()
    with pytest.raises(MetricsInputError, match="load sources.client_events"):
        read_events(store, "SELECT iin, event, event_date FROM sources.no_such_events",
                    "C000000001", "loan_opened", Period(FIRST, FIRST))
