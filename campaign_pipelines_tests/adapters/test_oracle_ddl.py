"""What the bank's Oracle gets from `campaigns db ddl` / `db init`: the driver it needs, text
columns measured in characters, and the indexes a replace, a delete and the off-limit window
query read through (issue 14, points 1-3)."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import duckdb
import pytest
import sqlglot
from packaging.requirements import Requirement
from packaging.version import Version

from campaign_pipelines.adapters.warehouse import ddl as ddl_module
from campaign_pipelines.adapters.warehouse.ddl import (
    INDEXES,
    WAREHOUSE_TABLES,
    column_type,
    create_statements,
    index_ddl,
    table_indexes,
)
from campaign_pipelines.adapters.warehouse.statements import OFF_LIMIT_IINS
from campaign_pipelines.cli import main
from campaign_pipelines.core.deployment import (
    DEPLOYMENT_TABLES,
    OFF_LIMIT_CAMPAIGNS_USERS,
    PROJECT_TABLES,
)
from campaign_pipelines.core.requests import NAME_CHARS, RequestError, parse_request
from campaign_pipelines_tests.adapters import oracle_fake

ROOT = Path(__file__).resolve().parents[2]
# executemany(batch_size=), Arrow date32 and multi-chunk Arrow tables arrived in 3.4.
DRIVER_FLOOR = Version("3.4")
# Oracle's CREATE INDEX as ddl.index_ddl writes it (SQL Language Reference, CREATE INDEX),
# which sqlglot 30 parses only as an opaque command: a schema-qualified name, one table, plain
# columns, a prefix compression count. The window query's own check is below.
_CREATE_INDEX = oracle_fake.CREATE_INDEX


def _oracle_statements() -> list[str]:
    return [s for table in WAREHOUSE_TABLES for s in create_statements(table, "oracle")]


# --- 1. driver floor -------------------------------------------------------------------------


def _oracledb_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = [
        r for r in map(Requirement, project["project"]["dependencies"]) if r.name == "oracledb"
    ]
    return requirement


def test_pyproject_requires_oracledb_3_4_or_later():
    specifier = _oracledb_requirement().specifier
    assert ">=3.4" in {str(s) for s in specifier}, specifier
    assert not specifier.contains("3.3.99")


def test_installed_and_pinned_oracledb_meet_the_floor():
    specifier = _oracledb_requirement().specifier
    assert specifier.contains(version("oracledb")), version("oracledb")
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    (pin,) = [line.split("==")[1] for line in pins if line.startswith("oracledb==")]
    assert specifier.contains(pin) and Version(pin) >= DRIVER_FLOOR


# --- 2. lengths in characters ----------------------------------------------------------------


def test_every_oracle_varchar2_counts_characters():
    text = "\n".join(_oracle_statements())
    declared = re.findall(r"VARCHAR2\([^)]*\)", text)
    assert declared and all(re.fullmatch(r"VARCHAR2\(\d+ CHAR\)", d) for d in declared), declared
    assert {"VARCHAR2(200 CHAR)", "VARCHAR2(4000 CHAR)"} <= set(declared)


def test_a_text_longer_than_a_varchar2_holds_is_a_clob(monkeypatch):
    monkeypatch.setitem(ddl_module.TEXT_LENGTHS, "text", 4001)
    assert column_type("text", "oracle") == "CLOB"
    assert column_type("text", "duckdb") == "VARCHAR"


def _request(name: str) -> str:
    return json.dumps({
        "campaign_type": "RB1",
        "metadata": {"campaign_name": name, "date_start": "2026-03-01",
                     "date_end": "2026-03-31"},
        "user_iins": ["900101300123"],
    }, ensure_ascii=False)


def test_a_200_character_cyrillic_campaign_name_is_admitted():
    name = ("Весенняя кампания Қазақстан " * 10)[:NAME_CHARS]
    assert len(name) == 200 and len(name.encode()) > 200
    assert parse_request(_request(name)).metadata.campaign_name == name


def test_a_campaign_name_over_its_column_is_refused_naming_the_field_and_limit():
    with pytest.raises(RequestError) as caught:
        parse_request(_request("Қ" * (NAME_CHARS + 1)))
    (problem,) = caught.value.problems
    assert problem["field"] == "metadata.campaign_name"
    assert "201 characters, more than the 200" in problem["problem"]
    assert "at most 200 characters" in problem["fix"]


# --- 3. indexes ------------------------------------------------------------------------------


def test_every_oracle_statement_is_oracle_sql():
    for statement in _oracle_statements():
        if statement.startswith("CREATE INDEX"):
            match = _CREATE_INDEX.fullmatch(statement)
            assert match, statement
            assert match.group(1) == match.group(3), f"outside its table's schema: {statement}"
        else:
            assert isinstance(sqlglot.parse_one(statement, read="oracle"), sqlglot.exp.Create)


@pytest.mark.parametrize("table", DEPLOYMENT_TABLES, ids=lambda t: t.name)
def test_every_deployment_table_has_a_compressed_campaigncode_index(table):
    on_code = [s for s in table_indexes(table, "oracle") if s.endswith("(CAMPAIGNCODE) COMPRESS 1")]
    assert len(on_code) == 1, table_indexes(table, "oracle")
    assert f" ON {table.qualified} " in on_code[0]


def test_the_off_limit_window_query_reads_only_indexed_columns():
    (window,) = [i for i in INDEXES if i.name == "off_limit_users_window_ix"]
    assert window.table is OFF_LIMIT_CAMPAIGNS_USERS
    assert window.columns[:3] == ("DATE_END", "DATE_START", "IIN")
    query = sqlglot.parse_one(OFF_LIMIT_IINS, read="oracle")
    read = {column.name.upper() for column in query.find_all(sqlglot.exp.Column)}
    assert read - {"IIN"} <= set(window.columns) and "IIN" in window.columns, read


def test_index_names_are_unique_and_fit_oracle_before_12_2():
    names = [index.qualified for index in INDEXES]
    assert len(set(names)) == len(names)
    assert all(len(index.name) <= 30 for index in INDEXES)


def test_oracle_ddl_prints_each_table_then_its_indexes(capsys):
    assert main(["db", "ddl", "--dialect", "oracle"]) == 0
    printed = [s.strip() for s in capsys.readouterr().out.split(";") if s.strip()]
    assert printed == _oracle_statements()
    assert [s for s in printed if s.startswith("CREATE INDEX")] == [index_ddl(i) for i in INDEXES]


def test_duckdb_db_init_twice_works(data_dir):
    """DuckDB gets no index: it plans these DELETEs and the window query as sequential scans
    with or without one, and its zone maps already skip the row groups (ddl.index_ddl)."""
    assert main(["db", "init"]) == 0
    assert main(["db", "init"]) == 0
    assert all(table_indexes(table, "duckdb") == [] for table in WAREHOUSE_TABLES)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        tables = {
            f"{schema}.{name}"
            for schema, name in connection.execute(
                "SELECT schema_name, table_name FROM duckdb_tables()"
            ).fetchall()
        }
    assert {table.qualified for table in PROJECT_TABLES} <= tables


# --- 3. Oracle `db init` creates the indexes (adapters/warehouse/oracle.py) -----------------


def test_oracle_db_init_creates_the_indexes_and_tolerates_existing_ones():
    from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse

    db = oracle_fake.FakeOracle()
    db.fails("CREATE INDEX dssb_ocds.mb01", oracle_fake.ora_error(955, "name is already used"))
    # The bank's own index on the same columns under another name: present is present.
    db.fails("CREATE INDEX dssb_ocds.mb22",
             oracle_fake.ora_error(1408, "such column list already indexed"))
    warehouse = OracleWarehouse(dsn="db:1521/free", user="campaigns", password="-",  # noqa: S106
                                connect_fn=db.connect)
    OracleDeployment(warehouse).init_schema()
    expected = [s for table in PROJECT_TABLES for s in create_statements(table, "oracle")]
    assert db.statements() == expected
