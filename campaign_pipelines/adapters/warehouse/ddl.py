"""The deployment tables in each warehouse's own SQL: column types, CREATE TABLE, CREATE INDEX.

core/deployment.py names each column's logical kind (``code``, ``iin``, ``name``...); this is
where a kind becomes a DuckDB or an Oracle type, so the dialects stay out of the core.

Oracle text columns count characters (``VARCHAR2(n CHAR)``), not the database's default bytes:
a 200-character Kazakh or Russian campaign name is 400 bytes. A VARCHAR2 still holds at most
4000 bytes whatever n says (MAX_STRING_SIZE = STANDARD), which admission also checks
(core/requests.py); a kind longer than 4000 characters would be a CLOB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from campaign_pipelines.core.deployment import (
    DEPLOYMENT_TABLES,
    OFF_LIMIT_CAMPAIGNS_USERS,
    PROJECT_TABLES,
    Table,
)
from campaign_pipelines.core.metrics.rollup import KPI_DAILY
from campaign_pipelines.core.requests import NAME_CHARS, TEXT_CHARS, VARCHAR2_MAX_BYTES

Dialect = Literal["duckdb", "oracle"]

# Text kinds -> their length in characters (admission bounds a request's names and texts by the
# same constants, core/requests.py).
TEXT_LENGTHS = {
    "code": 10,
    "xls": 8,
    "iin": 12,
    "name": NAME_CHARS,
    "text": TEXT_CHARS,
    "version": 16,
}
# Other kinds -> (DuckDB, Oracle)
_COLUMN_TYPES = {
    "date": ("DATE", "DATE"),
    "int": ("BIGINT", "NUMBER(12)"),
    "time": ("TIMESTAMP", "TIMESTAMP"),
    # A fraction such as a delivery rate: a binary float in DuckDB, Oracle's NUMBER (decimal,
    # exact for the ratios of counts written to it and summed by analysts' SQL).
    "rate": ("DOUBLE", "NUMBER"),
}
# Every table `campaigns db init` creates and `campaigns db ddl` prints: deployment's and the
# metrics domain's daily KPIs (written by metrics/daily_kpis, never needed to deploy).
WAREHOUSE_TABLES = (*PROJECT_TABLES, KPI_DAILY)
_POSITION = {"duckdb": 0, "oracle": 1}


def column_type(kind: str, dialect: Dialect) -> str:
    if kind in TEXT_LENGTHS:
        return "VARCHAR" if dialect == "duckdb" else _oracle_text(TEXT_LENGTHS[kind])
    return _COLUMN_TYPES[kind][_POSITION[dialect]]


def _oracle_text(characters: int) -> str:
    return f"VARCHAR2({characters} CHAR)" if characters <= VARCHAR2_MAX_BYTES else "CLOB"


def ddl(table: Table, dialect: Dialect) -> str:
    """CREATE TABLE for ``table``; DuckDB's skips an existing table, Oracle's has no such
    clause (the caller treats ORA-00955 as present)."""
    parts = [f"{name} {column_type(kind, dialect)}" for name, kind in table.columns]
    columns = ",\n  ".join([*parts, *table.constraints])
    if dialect == "duckdb":
        return f"CREATE TABLE IF NOT EXISTS {table.qualified} (\n  {columns}\n)"
    return f"CREATE TABLE {table.qualified} (\n  {columns}\n)"


@dataclass(frozen=True)
class Index:
    table: Table
    name: str  # at most 30 characters: Oracle before 12.2 allows no more
    columns: tuple[str, ...]
    compress: int  # leading columns whose repeated values Oracle stores once per leaf block

    @property
    def qualified(self) -> str:
        """In the table's schema, so the table's owner owns it (not the connecting user)."""
        return f"{self.table.schema}.{self.name}"


# A campaign's rows share one CAMPAIGNCODE, so every replace DELETE and `campaigns delete` reads
# them through this index instead of scanning the table; compressed, a code is stored once per
# leaf block. The window index answers statements.OFF_LIMIT_IINS from the index alone (DATE_END
# leads: its range is the selective one for a window near today); a campaign's rows share
# their dates, hence COMPRESS 2.
_CODE_INDEX_NAMES = {
    "mb01_camp_dict": "mb01_camp_dict_code_ix",
    "rb3_tr_campaign_dict": "rb3_tr_camp_dict_code_ix",
    "mb22_local_target": "mb22_local_target_code_ix",
    "mb21_local_control": "mb21_local_control_code_ix",
    "fd_rb2_campaigns_users": "fd_rb2_camp_users_code_ix",
    "off_limit_campaigns_users": "off_limit_users_code_ix",
}
INDEXES = (
    *(Index(t, _CODE_INDEX_NAMES[t.name], ("CAMPAIGNCODE",), 1) for t in DEPLOYMENT_TABLES),
    Index(
        OFF_LIMIT_CAMPAIGNS_USERS,
        "off_limit_users_window_ix",
        ("DATE_END", "DATE_START", "IIN", "CAMPAIGNCODE"),
        2,
    ),
)


def index_ddl(index: Index) -> str:
    """Oracle's CREATE INDEX (an existing one raises ORA-00955, which ``db init`` tolerates as
    it does for tables). DuckDB gets none: measured on DuckDB 2.0.1 with 5M rows, an index on
    CAMPAIGNCODE made a 1M-row insert twice as slow and its DELETE 18 times as slow (0.23 s),
    and saved under a millisecond per lookup; its zone maps already skip the row groups."""
    columns = ", ".join(index.columns)
    return (
        f"CREATE INDEX {index.qualified} ON {index.table.qualified} ({columns}) "
        f"COMPRESS {index.compress}"
    )


def table_indexes(table: Table, dialect: Dialect) -> list[str]:
    """The CREATE INDEX statements that go with ``table`` in ``dialect``."""
    if dialect == "duckdb":
        return []
    return [index_ddl(index) for index in INDEXES if index.table is table]


def create_statements(table: Table, dialect: Dialect) -> list[str]:
    """What `campaigns db init` runs for ``table``, in order, each on its own: the table, then
    its indexes."""
    return [ddl(table, dialect), *table_indexes(table, dialect)]
