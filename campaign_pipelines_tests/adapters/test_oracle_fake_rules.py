"""The Oracle fake refuses what Oracle (before 23ai) refuses and sqlglot's Oracle dialect lets
through: one test per rule, each showing the refused form and the accepted one."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from campaign_pipelines.adapters.warehouse import ddl as warehouse_ddl
from campaign_pipelines.core.deployment import Table
from campaign_pipelines_tests.adapters.oracle_fake import (
    FakeCursor,
    FakeOracle,
    OracleWouldRefuse,
    placeholders,
    schema_from_ddl,
)


def _cursor(db: FakeOracle | None = None) -> FakeCursor:
    return (db or FakeOracle()).connect(user="u", password="p", dsn="d").cursor()  # noqa: S106


def _refused(rule: str, sql: str) -> None:
    with pytest.raises(OracleWouldRefuse, match=f"rule {rule}") as raised:
        placeholders(sql)
    assert raised.value.rule == rule


def test_create_table_if_not_exists():
    _refused("if_not_exists", "CREATE TABLE IF NOT EXISTS campaign_ops.t (x NUMBER(1))")
    placeholders("CREATE TABLE campaign_ops.t (x NUMBER(1))")


def test_select_without_from():
    _refused("select_without_from", "SELECT 1")
    _refused("select_without_from", "SELECT x FROM campaign_ops.t UNION ALL SELECT 2")
    placeholders("SELECT 1 FROM DUAL UNION ALL SELECT 2 FROM DUAL")


def test_limit_and_offset():
    _refused("limit_offset", "SELECT campaign_code FROM campaign_ops.t LIMIT 5")
    _refused("limit_offset", "SELECT campaign_code FROM campaign_ops.t OFFSET 5")
    placeholders("SELECT campaign_code FROM campaign_ops.t FETCH FIRST 5 ROWS ONLY")
    placeholders("SELECT campaign_code FROM campaign_ops.t OFFSET 5 ROWS FETCH NEXT 5 ROWS ONLY")


def test_as_before_a_table_alias():
    _refused("as_before_table_alias", "SELECT r.campaign_code FROM campaign_ops.t AS r")
    _refused("as_before_table_alias", "SELECT MAX(c) FROM (SELECT 1 AS c FROM DUAL) AS codes")
    # column aliases and WITH names take AS; a table alias goes alone
    placeholders("SELECT r.campaign_code AS code FROM campaign_ops.t r")
    placeholders("WITH codes AS (SELECT 1 AS c FROM DUAL) SELECT MAX(c) FROM codes")
    placeholders("SELECT MAX(c) AS top FROM (SELECT 1 AS c FROM DUAL) codes")


@pytest.mark.parametrize("column", ["flag BOOLEAN", "note TEXT", '"note" TEXT'])
def test_boolean_and_text_types(column):
    _refused("foreign_types", f"CREATE TABLE campaign_ops.t (id NUMBER(12), {column})")
    _refused("foreign_types", "SELECT CAST(x AS BOOLEAN) FROM campaign_ops.t")


def test_clob_number_flags_and_a_column_named_text_are_oracle():
    placeholders("CREATE TABLE campaign_ops.t (flag NUMBER(1), note CLOB, text VARCHAR2(9 CHAR))")
    placeholders("SELECT text, CAST(x AS CLOB) FROM campaign_ops.t")


@pytest.mark.parametrize("bind", ["$1", "$code", "?", ":date", ":level", ":uid", ":Size"])
def test_dollar_question_and_reserved_word_binds(bind):
    _refused("bind_names", "SELECT code FROM campaign_ops.t WHERE day = BIND".replace("BIND", bind))


def test_named_binds_that_are_not_reserved_words():
    sql = "SELECT campaign_code FROM campaign_ops.t WHERE date_start = :day AND stream = :first"
    assert placeholders(sql) == ["day", "first"]
    placeholders("SELECT owner FROM v$session, campaign_ops.t r")  # $ inside a name is Oracle's


def test_insert_with_another_number_of_values_than_columns():
    _refused("insert_values_count", "INSERT INTO campaign_ops.t (k, c) VALUES (:k)")
    _refused("insert_values_count", "INSERT INTO campaign_ops.t (k, c) VALUES (:k, :c, :more)")
    _refused("insert_values_count", "INSERT INTO campaign_ops.t (k, c) SELECT 'k' FROM DUAL")
    placeholders("INSERT INTO campaign_ops.t (k, c) VALUES (:k, :c)")
    placeholders("INSERT INTO campaign_ops.t (k, c) SELECT 'k', 'C000000001' FROM DUAL")


@pytest.mark.parametrize("write", [
    "INSERT INTO campaign_ops.campaign_registr (campaign_key) VALUES (:k)",
    "UPDATE dssb_ocds.mb22_target SET IIN = :iin",
    "DELETE FROM campaign_registry WHERE campaign_key = :k",
    "MERGE INTO campaign_ops.nowhere t USING (SELECT 1 AS k FROM DUAL) s ON (t.k = s.k) "
    "WHEN MATCHED THEN UPDATE SET t.v = 1",
])
def test_a_write_to_a_table_the_ddl_does_not_define(write):
    with pytest.raises(OracleWouldRefuse, match="rule undefined_table"):
        _cursor().execute(write, dict.fromkeys(placeholders(write), "x"))


def test_an_insert_into_a_column_the_ddl_does_not_define():
    sql = "INSERT INTO campaign_ops.campaign_registry (campaign_key, nickname) VALUES (:k, :n)"
    with pytest.raises(OracleWouldRefuse, match="ORA-00904.*has no column nickname"):
        _cursor().execute(sql, {"k": "x", "n": "y"})


def test_writes_to_defined_tables_and_reads_of_any_table_pass():
    cursor = _cursor()
    cursor.execute("DELETE FROM campaign_ops.campaign_registry WHERE campaign_key = :k", {"k": "x"})
    cursor.execute("SELECT IIN FROM spss.some_view_of_the_bank WHERE IIN = :iin", {"iin": "1"})


def test_a_table_added_to_the_ddl_counts_once_the_fake_is_built(monkeypatch):
    sql = "INSERT INTO campaign_ops.audit_log (note) VALUES (:note)"
    with pytest.raises(OracleWouldRefuse, match="undefined_table"):
        _cursor().execute(sql, {"note": "x"})
    added = Table("campaign_ops", "audit_log", (("note", "text"),))
    monkeypatch.setattr(warehouse_ddl, "WAREHOUSE_TABLES", (*warehouse_ddl.WAREHOUSE_TABLES, added))
    _cursor().execute(sql, {"note": "x"})


def test_every_oracle_create_table_passes_the_rules():
    cursor = _cursor()
    for table in warehouse_ddl.WAREHOUSE_TABLES:
        cursor.execute(warehouse_ddl.ddl(table, "oracle"))


# --- bound Arrow data against the declared columns ---------------------------------------

_DDL = """CREATE TABLE campaign_ops.t (code VARCHAR2(4), name VARCHAR2(4 CHAR), note CLOB,
  n NUMBER(12), rate NUMBER, day DATE, at TIMESTAMP)"""
_INSERT = ("INSERT INTO campaign_ops.t (code, name, note, n, rate, day, at) "
           "VALUES (:code, :name, :note, :n, :rate, :day, :at)")
_GOOD = {
    "code": pa.array(["ab"], pa.string()),
    "name": pa.array(["Алма"], pa.string()),  # 4 characters, 8 bytes
    "note": pa.array(["x" * 5000], pa.large_string()),
    "n": pa.array([7], pa.int64()),
    "rate": pa.array([0.5], pa.float64()),
    "day": pa.array([date(2026, 3, 1)], pa.date32()),
    "at": pa.array([datetime(2026, 3, 1, 9)], pa.timestamp("us")),
}


def _insert(**changed: pa.Array) -> None:
    db = FakeOracle(schema=schema_from_ddl(_DDL))
    _cursor(db).executemany(_INSERT, pa.table({**_GOOD, **changed}))


def test_bound_arrow_types_that_fit_the_declared_columns():
    _insert()
    _insert(at=pa.array([date(2026, 3, 1)], pa.date32()), rate=pa.array([1], pa.int32()),
            n=pa.array([None], pa.null()))


@pytest.mark.parametrize(("column", "values"), [
    ("code", pa.array(["ab"], pa.large_string())),  # binds as LONG
    ("n", pa.array([7.5], pa.float64())),  # NUMBER(12) holds whole numbers
    ("n", pa.array(["7"], pa.string())),
    ("day", pa.array(["2026-03-01"], pa.string())),
    ("at", pa.array([1], pa.int64())),
])
def test_bound_arrow_types_that_do_not(column, values):
    with pytest.raises(OracleWouldRefuse, match=f"rule arrow_type.*column {column}"):
        _insert(**{column: values})


def test_text_lengths_count_bytes_or_characters_as_declared():
    _insert(code=pa.array(["abcd", None], pa.string()), name=pa.array(["Қазақ"[:4], "ab"]),
            **{k: pa.array(v.to_pylist() * 2, v.type) for k, v in _GOOD.items()
               if k not in ("code", "name")})
    with pytest.raises(OracleWouldRefuse, match="rule text_length.*column code has 3 char"):
        _insert(code=pa.array(["Алм"], pa.string()))  # 3 characters, 6 bytes > 4 BYTE
    with pytest.raises(OracleWouldRefuse, match="rule text_length.*column name has 5 char"):
        _insert(name=pa.array(["Алмат"], pa.string()))  # 5 characters > 4 CHAR
