"""SQL shared by both warehouses, written with named binds (``:name``).

Table and column names come only from ``core.deployment``'s constants, never from a request;
values always travel as binds. The DuckDB adapter rewrites ``:name`` to its ``$name`` form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from campaign_pipelines.core.codes import (
    CAMPAIGN_CODES,
    CampaignCodes,
    CodeSeries,
    decide_codes,
)
from campaign_pipelines.core.deployment import REGISTRY_COUNT, Table, tables_to_write
from campaign_pipelines.core.requests import CampaignRequest, request_version

# The legacy series: codes of length 10 starting C0000, in both dictionaries and the registry.
HIGHEST_CAMPAIGN_CODE = """
SELECT MAX(code) FROM (
  SELECT CAMPAIGNCODE AS code FROM dssb_ocds.mb01_camp_dict
  UNION ALL SELECT CAMPAIGNCODE FROM dssb_ocds.rb3_tr_campaign_dict
  UNION ALL SELECT campaign_code FROM campaign_ops.campaign_registry
) codes WHERE LENGTH(code) = 10 AND code LIKE 'C0000%'
"""
HIGHEST_XLS_OW_ID = """
SELECT MAX(xls) FROM (
  SELECT XLS_OW_ID AS xls FROM dssb_ocds.rb3_tr_campaign_dict
  UNION ALL SELECT xls_ow_id FROM campaign_ops.campaign_registry
) ids WHERE LENGTH(xls) = 8 AND xls LIKE 'KKB!_%' ESCAPE '!'
"""
REGISTRY_BY_KEY = """
SELECT campaign_code, xls_ow_id FROM campaign_ops.campaign_registry
WHERE campaign_key = :campaign_key
"""
REGISTRY_INSERT = """
INSERT INTO campaign_ops.campaign_registry (campaign_key, campaign_code, xls_ow_id,
  campaign_type, campaign_name, stream, channel, date_start, date_end, created_at, updated_at,
  request_version, deploy_tables)
VALUES (:campaign_key, :campaign_code, :xls_ow_id, :campaign_type, :campaign_name, :stream,
  :channel, :date_start, :date_end, :now, :now, :request_version, :deploy_tables)
"""
REGISTRY_UPDATE = """
UPDATE campaign_ops.campaign_registry SET xls_ow_id = :xls_ow_id, campaign_type = :campaign_type,
  campaign_name = :campaign_name, stream = :stream, channel = :channel,
  date_start = :date_start, date_end = :date_end, deleted_at = NULL, updated_at = :now,
  request_version = :request_version, deploy_tables = :deploy_tables
WHERE campaign_key = :campaign_key
"""
# Deleted: the tables hold nothing of it any more, and the counts say so.
REGISTRY_MARK_DELETED = """
UPDATE campaign_ops.campaign_registry SET deleted_at = :now, updated_at = :now,
  user_count = 0, control_count = 0
WHERE campaign_code = :campaign_code
"""
LEDGER_DELETE = """
DELETE FROM campaign_ops.campaign_deployments
WHERE campaign_code = :campaign_code AND table_name = :table_name
"""
LEDGER_INSERT = """
INSERT INTO campaign_ops.campaign_deployments (campaign_code, table_name, request_version,
  row_count, loaded_at)
VALUES (:campaign_code, :table_name, :request_version, :row_count, :loaded_at)
"""
LEDGER_CLEAR = "DELETE FROM campaign_ops.campaign_deployments WHERE campaign_code = :campaign_code"
LEDGER_ALL = """
SELECT campaign_code, table_name, request_version, row_count, loaded_at
FROM campaign_ops.campaign_deployments
"""
REGISTRY_ALL = "SELECT * FROM campaign_ops.campaign_registry"
# Oracle only, first in a code allocation's transaction: other allocators wait for our commit
# (which releases it) while queries still read, so two sessions never pick the same next code.
# DuckDB needs no statement: one process writes the file, and one lock serialises its threads.
LOCK_REGISTRY = "LOCK TABLE campaign_ops.campaign_registry IN EXCLUSIVE MODE"
OFF_LIMIT_IINS = """
SELECT DISTINCT IIN AS iin FROM spss.off_limit_campaigns_users
WHERE DATE_END >= :window_from AND DATE_START <= :window_to
  AND (:own_code IS NULL OR CAMPAIGNCODE <> :own_code)
"""


def delete_campaign_rows(table: Table) -> str:
    return f"DELETE FROM {table.qualified} WHERE CAMPAIGNCODE = :campaign_code"  # noqa: S608


def insert_rows(table: Table) -> str:
    names = table.column_names
    binds = ", ".join(f":{name}" for name in names)
    return f"INSERT INTO {table.qualified} ({', '.join(names)}) VALUES ({binds})"  # noqa: S608


def registry_count(column: str) -> str:
    """``column`` is one of ``core.deployment.REGISTRY_COUNT``'s values, never input."""
    return (
        f"UPDATE campaign_ops.campaign_registry SET {column} = :row_count, "  # noqa: S608
        "updated_at = :loaded_at WHERE campaign_code = :campaign_code"
    )


def as_dollar_binds(sql: str) -> str:
    """DuckDB spells named parameters ``$name``."""
    return re.sub(r"(?<![:\w]):(\w+)", r"$\1", sql)


Run = Callable[[str, dict[str, Any]], list[tuple]]


def record_load(
    run: Run, table: Table, campaign_code: str, version: str | None, rows: int, now: datetime
) -> None:
    """Inside the load's own transaction: the ledger row saying which request version
    ``table`` now holds for the campaign, and, for the target and control tables, the
    registry's count of them. A load that never commits changes neither."""
    key = {"campaign_code": campaign_code, "table_name": table.qualified}
    run(LEDGER_DELETE, key)
    run(LEDGER_INSERT, {**key, "request_version": version, "row_count": rows, "loaded_at": now})
    if column := REGISTRY_COUNT.get(table):
        binds = {"campaign_code": campaign_code, "row_count": rows, "loaded_at": now}
        run(registry_count(column), binds)


def allocate_codes(run: Run, key: str, request: CampaignRequest, now: datetime) -> CampaignCodes:
    """Inside the caller's transaction: the campaign's codes, allocating what it lacks
    (``core.codes.decide_codes`` says which), and its registry row. The caller serialises
    allocations (Oracle: ``LOCK_REGISTRY``; DuckDB: the file lock and a process lock), so no
    retry is needed and a unique violation is a real error.
    """
    existing = run(REGISTRY_BY_KEY, {"campaign_key": key})
    registered = (existing[0][0], existing[0][1]) if existing else None
    decision = decide_codes(registered, request.campaign_type.value, lambda s: _highest(run, s))
    meta = request.metadata
    params = {
        "campaign_key": key,
        "campaign_code": decision.codes.campaign_code,
        "xls_ow_id": decision.registry_xls_ow_id,
        "campaign_type": request.campaign_type.value,
        "campaign_name": meta.campaign_name,
        "stream": meta.stream,
        "channel": meta.channel,
        "date_start": meta.date_start,
        "date_end": meta.date_end,
        "now": now,
        "request_version": request_version(request),
        "deploy_tables": ",".join(t.qualified for t in tables_to_write(request)),
    }
    if decision.registry_write == "update":
        params.pop("campaign_code")
        run(REGISTRY_UPDATE, params)
    else:
        run(REGISTRY_INSERT, params)
    return decision.codes


def preview_codes(run: Run, campaign_type: str) -> CampaignCodes:
    """The codes a new campaign of ``campaign_type`` would be given now; writes nothing."""
    return decide_codes(None, campaign_type, lambda series: _highest(run, series)).codes


def _highest(run: Run, series: CodeSeries) -> str | None:
    sql = HIGHEST_CAMPAIGN_CODE if series is CAMPAIGN_CODES else HIGHEST_XLS_OW_ID
    return series.highest(row[0] for row in run(sql, {}))


# campaign_ops.kpi_daily (core/metrics/rollup.py KPI_DAILY): the days a rollup covers are
# replaced as a whole, so a day that lost a campaign loses its row too.
KPI_DELETE_DAYS = "DELETE FROM campaign_ops.kpi_daily WHERE day BETWEEN :first AND :last"
# Columns listed, not *, so both warehouses return KPI_SCHEMA's order whatever the table's.
KPI_SELECT = (
    "SELECT {columns} FROM campaign_ops.kpi_daily WHERE day BETWEEN :first AND :last "
    "AND (:campaign IS NULL OR campaign = :campaign) ORDER BY day, campaign, channel"
)


def kpi_rows_within(rows: Any, first: Any, last: Any) -> None:
    """A replace of the days ``first``..``last`` must not write another day: its rows would
    survive the next replace of their own day as duplicates. ValueError names the days."""
    days = rows.get_column("day")
    if rows.height and (days.min() < first or days.max() > last):
        raise ValueError(f"kpi_daily rows for {days.min()}..{days.max()} cannot replace the "
                         f"days {first}..{last}: roll up the days being replaced only")


def kpi_select(columns: list[str]) -> str:
    """``KPI_SELECT`` with ``columns`` (KPI_DAILY's own names, never input)."""
    return KPI_SELECT.format(columns=", ".join(columns))
