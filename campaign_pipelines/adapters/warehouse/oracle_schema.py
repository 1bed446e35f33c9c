"""An existing table against the columns ``ddl`` would create: `campaigns db init` (for a table
that was already there) and `campaigns db check` (for every table).

Both catalogs are read as plain rows: Oracle's ALL_TAB_COLUMNS (``TABLE_COLUMNS``) and DuckDB's
information_schema.columns (``DUCKDB_COLUMNS``). Each column becomes its type as the DDL spells
it (``VARCHAR2(200 CHAR)``, ``NUMBER(12)``, ``TIMESTAMP(6)``) and its nullability, and the two
sides are compared by name (upper case, as Oracle stores unquoted names):

- a missing column, another type or length (wider counts too: the DDL is the contract), or
  another nullability is a **difference**, and the check fails;
- a column the table has and the DDL does not is a **warning** only: the bank's tables may
  carry their own columns, and our INSERTs name theirs; one that is NOT NULL needs a DEFAULT,
  or those INSERTs fail with ORA-01400.

A primary key's columns are NOT NULL (Oracle makes them so); every other column is nullable.

``create_table`` is `campaigns db init`'s Oracle side: it runs the DDL and says whether the table
was already there (and so needs this comparison).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import oracledb

from campaign_pipelines.adapters.warehouse.ddl import Dialect, column_type, create_statements
from campaign_pipelines.adapters.warehouse.oracle_errors import (
    COLUMNS_ALREADY_INDEXED,
    NAME_ALREADY_USED,
    ora_code,
)
from campaign_pipelines.core.deployment import Table

TABLE_COLUMNS = (
    "SELECT owner, table_name, column_name, data_type, char_length, char_used, data_precision,"
    " data_scale, nullable FROM all_tab_columns"
    " WHERE owner = :owner AND table_name = :table_name"
)
DUCKDB_COLUMNS = (
    "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
    " WHERE table_catalog = current_database() AND table_schema = $schema"
    " AND table_name = $table_name ORDER BY ordinal_position"
)
_PRIMARY_KEY = re.compile(r"PRIMARY KEY \(([^)]*)\)", re.IGNORECASE)
# ALL_TAB_COLUMNS names TIMESTAMP with its default fractional precision.
_ORACLE_SPELLING = {"TIMESTAMP": "TIMESTAMP(6)"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool

    def describe(self) -> str:
        return f"{self.type}{'' if self.nullable else ' NOT NULL'}"


@dataclass
class TableReport:
    """One table's differences (the check fails) and warnings (it does not)."""

    table: str
    differences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class SchemaMismatchError(RuntimeError):
    """Existing tables differ from the DDL; the message lists every difference."""

    def __init__(self, reports: list[TableReport], warehouse: str):
        self.reports = reports
        super().__init__(
            f"existing tables in {warehouse} differ from what `campaigns db ddl` declares:\n"
            + render(reports)
            + "\nalter the tables to match (or ask the DBAs to), then rerun `campaigns db check`"
        )


def expected_columns(table: Table, dialect: Dialect) -> list[Column]:
    keys = {c.strip().upper() for m in map(_PRIMARY_KEY.search, table.constraints) if m
            for c in m.group(1).split(",")}
    columns = []
    for name, kind in table.columns:
        spelled = column_type(kind, dialect)
        if dialect == "oracle":
            spelled = _ORACLE_SPELLING.get(spelled, spelled)
        columns.append(Column(name.upper(), spelled, name.upper() not in keys))
    return columns


def oracle_column(row: tuple) -> Column:
    """A TABLE_COLUMNS row as the DDL would spell its column."""
    _owner, _table, name, data_type, char_length, char_used, precision, scale, nullable = row
    spelled = data_type
    if data_type in ("VARCHAR2", "NVARCHAR2", "CHAR", "NCHAR"):
        spelled = f"{data_type}({char_length} {'CHAR' if char_used == 'C' else 'BYTE'})"
    elif data_type == "NUMBER" and precision is not None:
        spelled = f"NUMBER({precision})" if not scale else f"NUMBER({precision},{scale})"
    elif data_type == "NUMBER" and scale == 0:
        spelled = "NUMBER(*,0)"  # INTEGER
    return Column(str(name).upper(), spelled, nullable == "Y")


def duckdb_column(row: tuple) -> Column:
    name, data_type, is_nullable = row
    return Column(str(name).upper(), data_type, is_nullable == "YES")


def compare(table: Table, found: Iterable[Column], dialect: Dialect) -> TableReport:
    report = TableReport(table.qualified)
    present = {column.name: column for column in found}
    if not present:
        report.differences.append("the table does not exist or this user cannot see it "
                                  "(`campaigns db init` creates it)")
        return report
    expected = expected_columns(table, dialect)
    for column in expected:
        there = present.get(column.name)
        if there is None:
            report.differences.append(f"{column.name}: missing (expected {column.describe()})")
        elif there != column:
            report.differences.append(
                f"{column.name}: is {there.describe()}, expected {column.describe()}")
    names = {column.name for column in expected}
    for extra in (c for c in present.values() if c.name not in names):
        needs = "" if extra.nullable else " (NOT NULL: our INSERTs fail unless it has a DEFAULT)"
        report.warnings.append(f"{extra.name}: not in the DDL, left alone{needs}")
    return report


def render(reports: list[TableReport]) -> str:
    lines = []
    for report in reports:
        lines += [f"  {report.table}: {d}" for d in report.differences]
        lines += [f"  {report.table}: warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def create_table(cursor: Any, table: Table) -> bool:
    """The table, then its indexes, each on its own: one already there is there (ORA-00955;
    for an index also ORA-01408, the bank's own index on the same columns). True when the
    table was there already, so its columns are the bank's and need checking."""
    existed = False
    for statement in create_statements(table, "oracle"):
        is_table = statement.startswith("CREATE TABLE")
        present = (NAME_ALREADY_USED,) if is_table else (
            NAME_ALREADY_USED, COLUMNS_ALREADY_INDEXED)
        try:
            cursor.execute(statement)
        except oracledb.DatabaseError as error:
            if ora_code(error) not in present:
                error.add_note(f"creating {table.qualified} or its indexes (`campaigns db ddl` "
                               "prints the DDL)")
                raise
            existed = existed or is_table
    return existed


def table_report(cursor: Any, table: Table) -> TableReport:
    binds = {"owner": table.schema.upper(), "table_name": table.name.upper()}
    cursor.execute(TABLE_COLUMNS, binds)
    return compare(table, map(oracle_column, cursor.fetchall()), "oracle")
