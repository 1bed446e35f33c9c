"""What the metrics domain reads from the other domains' tables, and a campaign's outcome
inputs; the KPI table itself is written through the Warehouse interface (``KpiTable``).

Decisions:
- Activity for Almaty days ``first``..``last`` is read as the UTC range ``utc_bounds`` gives,
  each domain's rows filtered and projected in SQL (only the columns core/metrics/rollup.py
  counts), the e-mail unsubscribes joined to their enrollments' sequences in SQL. A domain
  whose tables do not exist yet is None, never an error: it joins the rollup when it lands.
- The deployment ledger lives in either warehouse (named binds, as ``statements``). Streak,
  e-mail and SMS state live in the DuckDB warehouse in this version (defs/resources.py
  ``_embedded``): with Oracle they are None and kpi_daily holds the ``deploy`` channel only.
- Outcome inputs: the deployed groups are the campaign's rows in mb22_local_target and
  mb21_local_control; its events come from the reference config's ``events`` SQL wrapped in a
  query that keeps the target action, the period and the two groups' members only, and each
  member's first conversion day (so a 50M-event source yields one row per converter).
- The target action is the request's ``metadata.target_action`` when it is an event name
  (core/requests.py ``target_event``); none → sizes and the sample-ratio test are still
  measured, but no rate nor uplift, and ``reason`` says "no target action".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

import polars as pl

from campaign_pipelines.adapters.admission import RequestStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.duckdb_read import present_tables
from campaign_pipelines.adapters.warehouse.protocol import Deployment, WarehouseReader
from campaign_pipelines.adapters.warehouse.statements import as_dollar_binds
from campaign_pipelines.core.deployment import MB21_LOCAL_CONTROL, MB22_LOCAL_TARGET
from campaign_pipelines.core.metrics.outcomes import Outcome, Period, measure, without_rates
from campaign_pipelines.core.metrics.rollup import Activity, utc_bounds
from campaign_pipelines.core.registry import registry_code
from campaign_pipelines.core.requests import CampaignRequest, target_event

LEDGER = """
SELECT campaign_code, table_name, row_count, loaded_at FROM campaign_ops.campaign_deployments
WHERE loaded_at >= :start_naive AND loaded_at < :end_naive
  AND table_name IN (:target_table, :control_table)
"""
# (Activity field, tables it needs, SQL): DuckDB only, TIMESTAMPTZ compared with aware binds.
DOMAINS = (
    ("streak_audit", ("streak_audit",), """
SELECT from_streak, to_streak, action, source, recorded_at FROM campaign_ops.streak_audit
WHERE recorded_at >= :start AND recorded_at < :end"""),
    ("email_ledger", ("email_ledger",), """
SELECT sequence, state, due_at FROM campaign_ops.email_ledger
WHERE due_at >= :start AND due_at < :end"""),
    ("email_unsubscribes", ("email_suppressions", "enrollments"), """
SELECT e.sequence AS campaign, coalesce(s.received_at, s.recorded_at) AS received_at
FROM campaign_ops.email_suppressions s
JOIN (SELECT DISTINCT sequence, address_key FROM campaign_ops.enrollments) e USING (address_key)
WHERE s.reason = 'unsubscribed'
  AND coalesce(s.received_at, s.recorded_at) >= :start
  AND coalesce(s.received_at, s.recorded_at) < :end"""),
    ("sms_ledger", ("sms_ledger",), """
SELECT campaign, state, queued_at FROM campaign_ops.sms_ledger
WHERE queued_at >= :start AND queued_at < :end"""),
    ("sms_events", ("sms_events",), """
SELECT campaign, kind, outcome, received_at FROM campaign_ops.sms_events
WHERE kind = 'inbound' AND campaign IS NOT NULL
  AND received_at >= :start AND received_at < :end"""),
)
GROUP = "SELECT DISTINCT IIN AS iin FROM {table} WHERE CAMPAIGNCODE = :code"
EVENTS = """
SELECT e.iin AS iin, MIN(e.event) AS event, MIN(e.event_date) AS event_date
FROM ({events}) e
WHERE e.event = :action AND e.event_date >= :first AND e.event_date < :after
  AND e.iin IN (SELECT IIN FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = :code
                UNION ALL
                SELECT IIN FROM dssb_ocds.mb21_local_control WHERE CAMPAIGNCODE = :code)
GROUP BY e.iin
"""
NO_ACTION = ("no target action: the request's metadata.target_action is {found}; name the "
             "event that counts as converting (an event name such as loan_opened, as in the "
             "client events), or pass --action to `campaigns metrics outcome`")


class MetricsInputError(RuntimeError):
    """A campaign or a source the metrics need is not there; the message says what to do."""


def read_activity(reader: WarehouseReader, first: date, last: date) -> Activity:
    """Everything the rollup counts for the Almaty days ``first``..``last``."""
    start, end = utc_bounds(first, last)
    binds = {"start": start, "end": end, "start_naive": start.replace(tzinfo=None),
             "end_naive": end.replace(tzinfo=None),
             "target_table": MB22_LOCAL_TARGET.qualified,
             "control_table": MB21_LOCAL_CONTROL.qualified}
    if not isinstance(reader, DuckDBWarehouse):
        ledger = _lower(reader.fetch(LEDGER, _needed(LEDGER, binds)))
        return Activity(deployments=ledger)
    found: dict[str, pl.DataFrame | None] = {}
    with reader.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        present = {table.removeprefix("campaign_ops.") for table in present_tables(connection)
                   if table.startswith("campaign_ops.")}

        def read(sql: str) -> pl.DataFrame:
            relation = connection.sql(as_dollar_binds(sql), params=_needed(sql, binds))
            return cast(pl.DataFrame, pl.from_arrow(relation.to_arrow_table()))

        found["deployments"] = read(LEDGER) if "campaign_deployments" in present else None
        for name, tables, sql in DOMAINS:
            found[name] = read(sql) if present.issuperset(tables) else None
    return Activity(**found)


@dataclass(frozen=True)
class CampaignOutcome:
    """A campaign's outcome with what it was measured for."""

    campaign: dict[str, Any]  # its registry row
    request: CampaignRequest | None  # the request version the registry row describes
    outcome: Outcome


def campaign_row(deployment: Deployment, ref: str) -> dict[str, Any]:
    """The registry row of the campaign ``ref`` names (code, XLS_OW_ID or key)."""
    registry = deployment.registry()
    code = registry_code(registry, ref)
    if code is None:
        raise MetricsInputError(f"no campaign {ref!r} in the registry: give its CAMPAIGNCODE, "
                                "XLS_OW_ID or key (`campaigns list` shows them)")
    return registry.filter(pl.col("campaign_code") == code).row(0, named=True)


def deployed_request(requests: RequestStore, campaign: dict[str, Any]) -> CampaignRequest | None:
    """The admitted request version the registry row describes (None when it is not kept)."""
    try:
        return requests.load(campaign["campaign_key"], campaign.get("request_version"))
    except FileNotFoundError:
        return None


def measure_campaign(reader: WarehouseReader, deployment: Deployment, requests: RequestStore,
                     events_sql: str, ref: str, action: str | None = None,
                     window_days: int = 0) -> CampaignOutcome:
    """The outcome of the campaign ``ref`` over its registry period (+ ``window_days``), on
    ``action`` or else its request's target action."""
    campaign = campaign_row(deployment, ref)
    request = deployed_request(requests, campaign)
    meta = request.metadata if request else None
    action = action or (target_event(meta) if meta else None)
    period = Period(campaign["date_start"], campaign["date_end"], window_days)
    code = campaign["campaign_code"]
    target = _fetch(reader, GROUP.format(table=MB22_LOCAL_TARGET.qualified), {"code": code})
    control = _fetch(reader, GROUP.format(table=MB21_LOCAL_CONTROL.qualified), {"code": code})
    share = request.control_group.share if request and request.control_group else None
    if action is None:
        empty = pl.DataFrame(schema={"iin": pl.String, "event": pl.String,
                                     "event_date": pl.Date})
        found = repr(meta.target_action) if meta and meta.target_action else "not set"
        outcome = without_rates(measure(target, control, empty, "", period, share),
                                 NO_ACTION.format(found=found))
        return CampaignOutcome(campaign, request, outcome)
    events = read_events(reader, events_sql, code, action, period)
    return CampaignOutcome(campaign, request,
                           measure(target, control, events, action, period, share))


def read_events(reader: WarehouseReader, events_sql: str, code: str, action: str,
                period: Period) -> pl.DataFrame:
    """Each group member's first ``action`` in the period (iin, event, event_date)."""
    binds = {"code": code, "action": action, "first": period.start,
             "after": period.last_day + timedelta(days=1)}
    try:
        return _fetch(reader, EVENTS.format(events=events_sql.strip().rstrip(";")), binds)
    except Exception as error:
        if _missing_table(error):
            raise MetricsInputError(
                f"the client events cannot be read ({error}): load sources.client_events "
                "(`campaigns demo-data` makes one) or point `events:` in the reference "
                "config at the table that holds iin, event, event_date") from error
        raise


def _fetch(reader: WarehouseReader, sql: str, binds: dict[str, Any]) -> pl.DataFrame:
    return _lower(reader.fetch(sql, binds))


def _needed(sql: str, binds: dict[str, Any]) -> dict[str, Any]:
    """Only the binds ``sql`` names: both drivers refuse names a statement does not use."""
    return {name: value for name, value in binds.items() if re.search(rf":{name}\b", sql)}


def _lower(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.rename(str.lower)


def _missing_table(error: Exception) -> bool:
    text = str(error)
    return "does not exist" in text or "ORA-00942" in text
