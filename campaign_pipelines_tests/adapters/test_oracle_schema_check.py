"""Existing tables against the DDL: `campaigns db init` refuses a bank table that differs from
it, `campaigns db check` reports every table without creating anything (Oracle through the
fake answering ALL_TAB_COLUMNS as Oracle would for our DDL, DuckDB for real)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import duckdb
import pytest

from campaign_pipelines import cli
from campaign_pipelines.adapters.warehouse.ddl import WAREHOUSE_TABLES, ddl
from campaign_pipelines.adapters.warehouse.oracle import (
    OracleDeployment,
    OracleWarehouse,
    SchemaMismatchError,
)
from campaign_pipelines.cli import main
from campaign_pipelines.core.deployment import CAMPAIGN_REGISTRY, MB01_CAMP_DICT, PROJECT_TABLES
from campaign_pipelines.core.metrics.rollup import KPI_DAILY
from campaign_pipelines_tests.adapters.oracle_fake import FakeOracle, ora_error

_COLUMN_LINE = re.compile(r"^\s+([A-Za-z_]+) ([A-Z0-9]+)(?:\((\d+)(?: (CHAR))?\))?,?$")


def catalog(table, **changed: tuple) -> list[tuple]:
    """ALL_TAB_COLUMNS rows Oracle shows after running our CREATE TABLE for ``table``;
    ``changed`` replaces a column's (data_type, char_length, char_used, precision, scale,
    nullable)."""
    text = ddl(table, "oracle")
    keys = {c.strip().upper() for group in re.findall(r"PRIMARY KEY \(([^)]*)\)", text)
            for c in group.split(",")}
    rows = []
    for line in text.splitlines():
        if not (match := _COLUMN_LINE.match(line)) or match.group(1) == "CONSTRAINT":
            continue
        name, kind, size, char = match.groups()
        nullable = "N" if name.upper() in keys else "Y"
        if kind == "VARCHAR2":
            shape = ("VARCHAR2", int(size), "C" if char else "B", None, None, nullable)
        elif kind == "NUMBER":
            shape = ("NUMBER", None, None, int(size) if size else None, 0 if size else None,
                     nullable)
        else:
            shape = ("TIMESTAMP(6)" if kind == "TIMESTAMP" else kind, None, None, None, None,
                     nullable)
        rows.append((table.schema.upper(), table.name.upper(), name.upper(),
                     *changed.get(name.upper(), shape)))
    return rows


@pytest.fixture
def db() -> FakeOracle:
    return FakeOracle()


@pytest.fixture
def deployment(db) -> OracleDeployment:
    warehouse = OracleWarehouse(dsn="db:1521/free", user="campaigns", password="x",
                                connect_fn=db.connect)
    return OracleDeployment(warehouse)


def test_catalog_matching_the_ddl_passes_and_is_asked_by_upper_case_names(deployment, db):
    db.returns("all_tab_columns", *(catalog(t) for t in WAREHOUSE_TABLES))
    reports = deployment.check_schema(WAREHOUSE_TABLES)
    assert [(r.differences, r.warnings) for r in reports] == [([], [])] * len(WAREHOUSE_TABLES)
    asked = [entry[2] for entry in db.executed("FROM all_tab_columns")]
    assert asked[0] == {"owner": "DSSB_OCDS", "table_name": "MB01_CAMP_DICT"}
    assert len(asked) == len(WAREHOUSE_TABLES) and not db.executed("CREATE")


def test_every_kind_of_difference_is_named_with_what_is_and_what_is_expected(deployment, db):
    bank = catalog(
        MB01_CAMP_DICT,
        CAMPAIGN_NAME=("VARCHAR2", 200, "B", None, None, "Y"),  # bytes: ORA-12899 on Cyrillic
        CAMPAIGN_TYPE=("VARCHAR2", 100, "C", None, None, "Y"),
        LOAD_DATE=("DATE", None, None, None, None, "Y"),
        DATE_END=("DATE", None, None, None, None, "N"),
    )
    assert bank.pop(-2)[2] == "CAMP_CNT"
    db.returns("all_tab_columns", bank)
    [report] = deployment.check_schema((MB01_CAMP_DICT,))
    assert report.differences == [
        "CAMPAIGN_NAME: is VARCHAR2(200 BYTE), expected VARCHAR2(200 CHAR)",
        "CAMPAIGN_TYPE: is VARCHAR2(100 CHAR), expected VARCHAR2(200 CHAR)",
        "DATE_END: is DATE NOT NULL, expected DATE",
        "CAMP_CNT: missing (expected NUMBER(12))",
        "LOAD_DATE: is DATE, expected TIMESTAMP(6)",
    ]


def test_number_precision_and_scale_and_a_primary_key_left_nullable(deployment, db):
    registry = catalog(CAMPAIGN_REGISTRY)
    key = next(i for i, row in enumerate(registry) if row[-1] == "N")
    registry[key] = (*registry[key][:-1], "Y")
    kpi = catalog(KPI_DAILY)
    counts = next(i for i, row in enumerate(kpi) if row[3] == "NUMBER" and row[6] is not None)
    kpi[counts] = (*kpi[counts][:6], 12, 2, "Y")
    db.returns("all_tab_columns", registry, kpi)
    registry_report, kpi_report = deployment.check_schema((CAMPAIGN_REGISTRY, KPI_DAILY))
    assert registry_report.differences == [
        f"{registry[key][2]}: is {_text(registry[key])}, expected {_text(registry[key])} NOT NULL"]
    assert kpi_report.differences == [f"{kpi[counts][2]}: is NUMBER(12,2), expected NUMBER(12)"]


def _text(row: tuple) -> str:
    return f"VARCHAR2({row[4]} CHAR)"


def test_extra_columns_are_warnings_and_a_not_null_one_says_why(deployment, db):
    extra = [("DSSB_OCDS", "MB01_CAMP_DICT", "BRANCH", "VARCHAR2", 20, "B", None, None, "Y"),
             ("DSSB_OCDS", "MB01_CAMP_DICT", "OWNER_ID", "NUMBER", None, None, 9, 0, "N")]
    db.returns("all_tab_columns", catalog(MB01_CAMP_DICT) + extra)
    [report] = deployment.check_schema((MB01_CAMP_DICT,))
    assert report.differences == []
    assert report.warnings == [
        "BRANCH: not in the DDL, left alone",
        "OWNER_ID: not in the DDL, left alone (NOT NULL: our INSERTs fail unless it has a "
        "DEFAULT)",
    ]


def test_init_schema_checks_the_tables_that_were_there_and_fails_on_a_difference(
    deployment, db
):
    db.fails("CREATE TABLE dssb_ocds.mb01_camp_dict", ora_error(955, "name is already used"))
    db.returns("all_tab_columns", catalog(
        MB01_CAMP_DICT, CAMPAIGN_NAME=("VARCHAR2", 200, "B", None, None, "Y")))
    with pytest.raises(SchemaMismatchError) as raised:
        deployment.init_schema()
    assert "dssb_ocds.mb01_camp_dict: CAMPAIGN_NAME: is VARCHAR2(200 BYTE), expected " \
           "VARCHAR2(200 CHAR)" in str(raised.value)
    # every table was still created; only the one that was there is compared
    assert len(db.executed("CREATE TABLE")) == len(PROJECT_TABLES)
    assert [e[2]["table_name"] for e in db.executed("all_tab_columns")] == ["MB01_CAMP_DICT"]


def test_init_schema_accepts_an_existing_table_that_matches(deployment, db):
    db.fails("CREATE TABLE campaign_ops.kpi_daily", ora_error(955, "name is already used"))
    db.returns("all_tab_columns", catalog(KPI_DAILY))
    deployment.init_schema()
    deployment.init_kpi_table()
    assert [e[2]["table_name"] for e in db.executed("all_tab_columns")] == ["KPI_DAILY"]


def test_a_name_used_by_something_without_columns_fails_init(deployment, db):
    db.fails("CREATE TABLE campaign_ops.kpi_daily", ora_error(955, "name is already used"))
    with pytest.raises(SchemaMismatchError, match="does not exist or this user cannot see it"):
        deployment.init_kpi_table()


def _cli_on(db: FakeOracle, monkeypatch) -> None:
    warehouse = OracleWarehouse(dsn="db:1521/free", user="campaigns", password="x",
                                connect_fn=db.connect)
    location = SimpleNamespace(warehouse=SimpleNamespace(adapter=lambda: warehouse))
    monkeypatch.setattr(cli, "_location", lambda: location)


def test_cli_db_check_on_oracle_exits_2_with_the_differences(db, monkeypatch, capsys):
    _cli_on(db, monkeypatch)
    rows = [catalog(t) for t in WAREHOUSE_TABLES]
    rows[0] = catalog(MB01_CAMP_DICT, LOAD_DATE=("DATE", None, None, None, None, "Y"))
    db.returns("all_tab_columns", *rows)
    assert main(["db", "check"]) == 2
    err = capsys.readouterr().err
    assert "dssb_ocds.mb01_camp_dict: LOAD_DATE: is DATE, expected TIMESTAMP(6)" in err
    assert not db.executed("CREATE")


def test_cli_db_check_on_oracle_exits_0_when_all_match(db, monkeypatch, capsys):
    _cli_on(db, monkeypatch)
    db.returns("all_tab_columns", *(catalog(t) for t in WAREHOUSE_TABLES))
    assert main(["db", "check"]) == 0
    assert capsys.readouterr().out.startswith(f"{len(WAREHOUSE_TABLES)} tables match the DDL")


def test_cli_db_check_on_duckdb_compares_information_schema(data_dir, capsys):
    assert main(["db", "check"]) == 2  # nothing created yet, and check creates nothing
    assert "does not exist" in capsys.readouterr().err
    assert main(["db", "init"]) == 0
    assert main(["db", "check"]) == 0
    capsys.readouterr()
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as connection:
        connection.execute("ALTER TABLE dssb_ocds.mb01_camp_dict ALTER CAMP_CNT TYPE INTEGER")
        connection.execute("ALTER TABLE dssb_ocds.mb01_camp_dict ADD COLUMN BRANCH VARCHAR")
    assert main(["db", "check"]) == 2
    err = capsys.readouterr().err
    assert "dssb_ocds.mb01_camp_dict: CAMP_CNT: is INTEGER, expected BIGINT" in err
    assert "dssb_ocds.mb01_camp_dict: warning: BRANCH: not in the DDL, left alone" in err
