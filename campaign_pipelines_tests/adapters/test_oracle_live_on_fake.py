"""What the live Oracle tests send, checked where no database is: every statement of
test_oracle_live.py and test_oracle_live_processes.py through the recording fake's rules
(Oracle's grammar through sqlglot, named binds matching the placeholders, no reserved-word
bind, writes only to tables the DDL defines), and their writes through the adapter on the fake
(Arrow types and CHAR lengths against the DDL). What only a database can tell (the plan, the
locks, the rollback of a killed session) stays for the live run."""

from __future__ import annotations

import re
from datetime import date

import pyarrow as pa
import pytest

from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.adapters.warehouse.ddl import column_type
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.deployment import (
    MB22_LOCAL_TARGET,
    PROJECT_TABLES,
    RB3_TR_CAMPAIGN_DICT,
)
from campaign_pipelines_tests.adapters import test_oracle_live as live
from campaign_pipelines_tests.adapters.oracle_fake import (
    RESERVED_WORDS,
    FakeOracle,
    OracleWouldRefuse,
    schema_from_ddl,
)

CODES = CampaignCodes(campaign_code="C000000042", xls_ow_id="KKB_0042")
# Each statement the live tests send themselves, with the binds they send it.
SENT = [
    (live.REGISTRY_CODES_OF_KEY, {"key": "live-test-0"}),
    (live.REGISTRY_DELETE_KEY, {"key": "live-test-0"}),
    (live.REGISTRY_COUNT, {}),
    (live.TARGET_COUNT, {"code": "C000000042"}),
    (live.TARGET_IINS, {"code": "C000000042"}),
    (live.LEDGER_ROWS, {"code": "C000000042", "table_name": MB22_LOCAL_TARGET.qualified}),
    (live.RB3_ROW, {"code": "C000000042"}),
    (live.NAME_LENGTHS, {"code": "C000000042"}),
    (live.LOCK_CAMPAIGN_ROWS, {"code": "C000000042"}),
    (live.PLAN_STEPS, {"statement_id": "cp0"}),
    (live.PLAN_TEXT, {"statement_id": "cp0"}),
]
# Oracle's grammar for what sqlglot cannot parse (SQL Language Reference: EXPLAIN PLAN; PL/SQL
# Packages and Types Reference: DBMS_STATS.GATHER_TABLE_STATS, named notation).
_EXPLAIN = re.compile(r"EXPLAIN PLAN SET STATEMENT_ID = '([a-z0-9_]{1,30})' FOR (DELETE .+)",
                      re.DOTALL)
_GATHER = re.compile(r"BEGIN DBMS_STATS\.GATHER_TABLE_STATS\(ownname => :(\w+), "
                     r"tabname => :(\w+)\); END;")


@pytest.fixture
def db() -> FakeOracle:
    return FakeOracle()


@pytest.fixture
def deployment(db) -> OracleDeployment:
    warehouse = OracleWarehouse(dsn="db:1521/free", user="campaigns", password="-",
                                connect_fn=db.connect)
    db.returns("all_tables", pa.table({
        "OWNER": [t.schema.upper() for t in PROJECT_TABLES],
        "TABLE_NAME": [t.name.upper() for t in PROJECT_TABLES],
    }))
    return OracleDeployment(warehouse, batch_size=1_000)


@pytest.mark.parametrize(("sql", "binds"), SENT, ids=lambda v: str(v)[:40])
def test_each_statement_the_live_tests_send_passes_the_fake(db, sql, binds):
    db.connect(user="-", password="-", dsn="-").cursor().execute(sql, binds)
    assert db.executed(sql)


def test_the_explain_plan_wraps_the_replaces_own_delete(db):
    plan_id = live.plan_id()
    sql = live.EXPLAIN_PREFIX.format(plan_id=plan_id) + statements.delete_campaign_rows(
        MB22_LOCAL_TARGET)
    matched = _EXPLAIN.fullmatch(sql)
    assert matched and matched[1] == plan_id  # plan_table's STATEMENT_ID: 30 characters
    # The statement explained is the one the replace runs, and it passes the fake's rules.
    assert matched[2] == statements.delete_campaign_rows(MB22_LOCAL_TARGET)
    db.connect(user="-", password="-", dsn="-").cursor().execute(
        matched[2], {"campaign_code": "C000000000"})


def test_the_statistics_call_binds_by_name_and_not_a_reserved_word():
    matched = _GATHER.fullmatch(live.GATHER_STATS)
    assert matched
    assert {name.upper() for name in matched.groups()}.isdisjoint(RESERVED_WORDS)


def test_the_rb3_metadata_row_and_the_cyrillic_name_pass_the_ddl(db, deployment):
    for name in ("Live test", live.CYRILLIC_NAME):
        rows = live.rb3_metadata(CODES, name)
        assert deployment.replace_campaign_rows(RB3_TR_CAMPAIGN_DICT, "C000000042", rows) == 1
    [*_, (_, sql, count, _)] = [e for e in db.log if e[0] == "executemany"]
    assert "rb3_tr_campaign_dict" in sql and count == 1
    assert len(live.CYRILLIC_NAME) == 200 and len(live.CYRILLIC_NAME.encode()) > 300


def test_the_fake_would_refuse_the_cyrillic_name_in_a_byte_sized_column(db, deployment):
    """The check above can fail: declared in bytes, as Oracle's default is, the name does not
    fit (ORA-12899)."""
    byte_sized = schema_from_ddl(
        "CREATE TABLE dssb_ocds.rb3_tr_campaign_dict (" + ", ".join(
            f"{name} {'VARCHAR2(200)' if name == 'CAMPAIGN_NAME' else column_type(kind, 'oracle')}"
            for name, kind in RB3_TR_CAMPAIGN_DICT.columns) + ")")
    db.schema = {**db.schema, **byte_sized}
    with pytest.raises(OracleWouldRefuse, match="ORA-12899"):
        deployment.replace_campaign_rows(RB3_TR_CAMPAIGN_DICT, "C000000042",
                                         live.rb3_metadata(CODES, live.CYRILLIC_NAME))


def test_the_target_rows_of_the_big_replace_and_the_killed_load_pass_the_ddl(db, deployment):
    rows = live.target_rows("C000000042", 2_500, 600_000_000_000)
    assert rows["IIN"].str.len_chars().unique().to_list() == [12]
    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", rows) == 2_500
    assert [e[2] for e in db.log if e[0] == "executemany"] == [1_000, 1_000, 500]


def test_the_live_request_is_admitted_as_rb3_in_the_far_future():
    request = live.live_request(live.CYRILLIC_NAME)
    assert request.campaign_type.value == "RB3"
    assert request.metadata.date_start == date(2099, 1, 1)
