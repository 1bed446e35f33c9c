"""The deployment tables in each warehouse's own SQL: column types and CREATE TABLE.

core/deployment.py names each column's logical kind (``code``, ``iin``, ``name``...); this is
where a kind becomes a DuckDB or an Oracle type, so the dialects stay out of the core.
"""

from __future__ import annotations

from typing import Literal

from campaign_pipelines.core.deployment import PROJECT_TABLES, Table
from campaign_pipelines.core.metrics.rollup import KPI_DAILY
from campaign_pipelines.core.requests import NAME_BYTES, TEXT_BYTES

Dialect = Literal["duckdb", "oracle"]

# Logical column kind -> (DuckDB, Oracle)
_COLUMN_TYPES = {
    "code": ("VARCHAR", "VARCHAR2(10)"),
    "xls": ("VARCHAR", "VARCHAR2(8)"),
    "iin": ("VARCHAR", "VARCHAR2(12)"),
    # The bounds admission checks a request's names and texts against (core/requests.py).
    "name": ("VARCHAR", f"VARCHAR2({NAME_BYTES})"),
    "text": ("VARCHAR", f"VARCHAR2({TEXT_BYTES})"),
    "date": ("DATE", "DATE"),
    "int": ("BIGINT", "NUMBER(12)"),
    "time": ("TIMESTAMP", "TIMESTAMP"),
    "version": ("VARCHAR", "VARCHAR2(16)"),
    # A fraction such as a delivery rate: a binary float in DuckDB, Oracle's NUMBER (decimal,
    # exact for the ratios of counts written to it and summed by analysts' SQL).
    "rate": ("DOUBLE", "NUMBER"),
}
# Every table `campaigns db init` creates and `campaigns db ddl` prints: deployment's and the
# metrics domain's daily KPIs (written by metrics/daily_kpis, never needed to deploy).
WAREHOUSE_TABLES = (*PROJECT_TABLES, KPI_DAILY)
_POSITION = {"duckdb": 0, "oracle": 1}


def column_type(kind: str, dialect: Dialect) -> str:
    return _COLUMN_TYPES[kind][_POSITION[dialect]]


def ddl(table: Table, dialect: Dialect) -> str:
    """CREATE TABLE for ``table``; DuckDB's skips an existing table, Oracle's has no such
    clause (the caller treats ORA-00955 as present)."""
    parts = [f"{name} {column_type(kind, dialect)}" for name, kind in table.columns]
    columns = ",\n  ".join([*parts, *table.constraints])
    if dialect == "duckdb":
        return f"CREATE TABLE IF NOT EXISTS {table.qualified} (\n  {columns}\n)"
    return f"CREATE TABLE {table.qualified} (\n  {columns}\n)"
