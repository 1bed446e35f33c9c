"""The Oracle adapter against a recording fake connection (no Oracle server runs here): what it
sends, in which transaction, and what it does with the errors python-oracledb raises. The
adapter never retries: a transient error goes up once, classified by ``errors.is_transient``,
and the step's RetryPolicy retries it (campaign_pipelines_tests/test_retries.py)."""

from __future__ import annotations

import re
from datetime import date, datetime

import oracledb
import polars as pl
import pyarrow as pa
import pytest
import sqlglot

from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.adapters.warehouse.ddl import ddl
from campaign_pipelines.adapters.warehouse.errors import is_transient
from campaign_pipelines.adapters.warehouse.oracle import (
    DuplicateRowsError,
    OracleDeployment,
    OracleWarehouse,
)
from campaign_pipelines.core.deployment import (
    CAMPAIGN_DEPLOYMENTS,
    CAMPAIGN_REGISTRY,
    DEPLOYMENT_TABLES,
    FD_RB2_CAMPAIGNS_USERS,
    MB22_LOCAL_TARGET,
    PROJECT_TABLES,
)
from campaign_pipelines.core.requests import CampaignRequest, request_version
from campaign_pipelines_tests.adapters import oracle_fake
from campaign_pipelines_tests.adapters.oracle_fake import (
    FakeOracle,
    connection_closed,
    ora_error,
    placeholders,
)
from campaign_pipelines_tests.adapters.test_oracle_schema_check import catalog

UNIQUE = "unique constraint (CAMPAIGN_OPS.SYS_C008123) violated"
VERSION = "0123456789abcdef"
LEDGER = "campaign_ops.campaign_deployments"
NUMBERED_BIND = re.compile(r"(?<![:\w]):\d+")
# Oracle's LOCK TABLE grammar (SQL Language Reference, LOCK TABLE), which sqlglot 30 does not
# parse: one table, a lock mode, optionally NOWAIT or WAIT n. No binds are possible in it.
_LOCK_TABLE = re.compile(
    r"LOCK TABLE [a-z_][a-z0-9_$#]*\.[a-z_][a-z0-9_$#]* IN "
    r"(ROW SHARE|ROW EXCLUSIVE|SHARE UPDATE|SHARE ROW EXCLUSIVE|SHARE|EXCLUSIVE) MODE"
    r"( NOWAIT| WAIT \d+)?",
    re.IGNORECASE,
)


@pytest.fixture
def db() -> FakeOracle:
    return FakeOracle()


@pytest.fixture(autouse=True)
def _fake_knows_lock_table(monkeypatch):
    """The fake checks every statement with sqlglot, which cannot parse Oracle's LOCK TABLE:
    such a statement is checked against Oracle's grammar instead (whole statement, no binds);
    every other statement still goes through sqlglot."""
    parse = oracle_fake.placeholders

    def placeholders(sql: str) -> list[str]:
        if sql.lstrip().upper().startswith("LOCK TABLE"):
            assert _LOCK_TABLE.fullmatch(sql.strip()), f"not Oracle's LOCK TABLE: {sql}"
            return []
        return parse(sql)

    monkeypatch.setattr(oracle_fake, "placeholders", placeholders)


@pytest.fixture
def deployment(db: FakeOracle) -> OracleDeployment:
    warehouse = OracleWarehouse(
        dsn="db:1521/free",
        user="campaigns",
        password="secret",  # noqa: S106 - the fake ignores it
        connect_fn=db.connect,
    )
    deployment = OracleDeployment(warehouse, batch_size=2)
    # Every table exists; the adapter's one check happens here, out of each test's log.
    db.returns("all_tables", pa.table({
        "OWNER": [t.schema.upper() for t in PROJECT_TABLES],
        "TABLE_NAME": [t.name.upper() for t in PROJECT_TABLES],
    }))
    deployment.require_tables()
    db.log.clear()
    return deployment


@pytest.fixture(autouse=True)
def _named_binds_only(db: FakeOracle):
    """Whatever a test did, no statement it sent used a positional bind."""
    yield
    for sql in db.statements():
        assert not NUMBERED_BIND.search(sql), sql


def _request(kind: str = "RB1") -> CampaignRequest:
    return CampaignRequest.model_validate(
        {
            "campaign_type": kind,
            "metadata": {
                "campaign_name": "Spring push",
                "channel": "push",
                "date_start": "2026-03-01",
                "date_end": "2026-03-31",
            },
            "user_iins": ["900101300123"],
        }
    )


def _target_rows(count: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "CAMPAIGNCODE": ["C000000042"] * count,
            "IIN": [f"{900101300000 + i}" for i in range(count)],
            "LOAD_DATE": [datetime(2026, 3, 1, 9)] * count,
        },
        schema={"CAMPAIGNCODE": pl.String, "IIN": pl.String, "LOAD_DATE": pl.Datetime("us")},
    )


# --- statements and DDL -------------------------------------------------------------------


@pytest.mark.parametrize("table", PROJECT_TABLES, ids=lambda t: t.name)
def test_every_oracle_ddl_statement_parses(table):
    tree = sqlglot.parse_one(ddl(table, "oracle"), read="oracle")
    assert isinstance(tree, sqlglot.exp.Create)


def test_fake_refuses_positional_binds_and_non_oracle_sql():
    with pytest.raises(AssertionError, match="positional"):
        placeholders("SELECT * FROM campaign_ops.campaign_registry WHERE campaign_code = :1")
    with pytest.raises(sqlglot.errors.ParseError):
        placeholders("SELEC campaign_code FROM campaign_ops.campaign_registry")


def test_init_schema_creates_every_table_and_skips_existing_ones(deployment, db):
    db.fails("CREATE TABLE dssb_ocds.mb01_camp_dict", ora_error(955, "name is already used"))
    db.returns("all_tab_columns", catalog(PROJECT_TABLES[0]))  # it matches the DDL
    deployment.init_schema()
    created = db.executed("CREATE TABLE")
    assert len(created) == len(PROJECT_TABLES) == len(DEPLOYMENT_TABLES) + 2
    assert db.events()[0] == "connect" and db.events()[-1] == "close"


def test_init_schema_stops_on_any_other_ddl_error(deployment, db):
    db.fails("CREATE TABLE spss.", ora_error(1918, "user 'SPSS' does not exist"))
    with pytest.raises(oracledb.DatabaseError, match="ORA-01918") as raised:
        deployment.init_schema()
    assert "creating spss.fd_rb2_campaigns_users" in " ".join(raised.value.__notes__)


# --- codes --------------------------------------------------------------------------------


def test_new_campaign_gets_the_code_after_the_highest(deployment, db):
    db.returns("MAX(code)", [("C000000041",)])
    codes = deployment.allocate_codes("spring-push", _request())
    assert (codes.campaign_code, codes.xls_ow_id) == ("C000000042", None)
    (insert,) = db.executed("INSERT INTO campaign_ops.campaign_registry")
    assert insert[2]["campaign_code"] == "C000000042" and insert[2]["campaign_key"] == "spring-push"
    # the registry names the version it describes and the tables that version writes
    assert insert[2]["request_version"] == request_version(_request())
    assert insert[2]["deploy_tables"].split(",") == [t.qualified for t in DEPLOYMENT_TABLES]
    assert db.events().count("commit") == 1 and "rollback" not in db.events()


def test_reallocation_keeps_the_campaigns_codes(deployment, db):
    db.returns("WHERE campaign_key = :campaign_key", [("C000000007", None)])
    codes = deployment.allocate_codes("spring-push", _request())
    assert codes.campaign_code == "C000000007"
    assert not db.executed("MAX(") and not db.executed("INSERT")
    (update,) = db.executed("UPDATE campaign_ops.campaign_registry SET xls_ow_id")
    assert update[2]["campaign_key"] == "spring-push"


def test_rb3_campaign_also_gets_the_next_kkb_id(deployment, db):
    db.returns("MAX(code)", [("C000000041",)])
    db.returns("MAX(xls)", [("KKB_0012",)])
    codes = deployment.allocate_codes("loyalty", _request("RB3"))
    assert (codes.campaign_code, codes.xls_ow_id) == ("C000000042", "KKB_0013")
    (insert,) = db.executed("INSERT INTO campaign_ops.campaign_registry")
    assert insert[2]["xls_ow_id"] == "KKB_0013"


def test_allocation_locks_the_registry_first_in_its_own_transaction(deployment, db):
    db.returns("MAX(code)", [("C000000041",)])
    deployment.allocate_codes("spring-push", _request())
    sent = db.statements()
    assert sent[0] == statements.LOCK_REGISTRY  # before the registry or the highest is read
    assert _LOCK_TABLE.fullmatch(statements.LOCK_REGISTRY)
    assert db.events() == ["connect", *["execute"] * len(sent), "commit", "close"]


def test_the_fake_still_refuses_a_malformed_lock_statement(db):
    cursor = db.connect(user="u", password="p", dsn="d").cursor()  # noqa: S106
    with pytest.raises(AssertionError, match="LOCK TABLE"):
        cursor.execute("LOCK TABLE campaign_ops.campaign_registry IN VERY EXCLUSIVE MODE")


def test_a_unique_violation_in_allocation_is_a_real_error_not_retried(deployment, db):
    # Allocators queue on the registry lock, so a clash means a row written outside them.
    db.returns("MAX(code)", [("C000000041",)])
    db.fails("INSERT INTO campaign_ops.campaign_registry", ora_error(1, UNIQUE))
    with pytest.raises(DuplicateRowsError, match="campaign_ops.campaign_registry"):
        deployment.allocate_codes("spring-push", _request())
    assert db.events().count("connect") == 1 and "commit" not in db.events()
    assert db.events().count("rollback") == 1


def test_preview_reads_without_writing(deployment, db):
    db.returns("MAX(code)", [("C000000041",)])
    db.returns("MAX(xls)", [(None,)])
    codes = deployment.preview_codes("RB3")
    assert (codes.campaign_code, codes.xls_ow_id) == ("C000000042", "KKB_0001")
    assert not db.executed("INSERT") and not db.executed("UPDATE")


# --- replacing a campaign's rows ----------------------------------------------------------


def test_replace_deletes_then_inserts_in_batches_in_one_transaction(deployment, db):
    written = deployment.replace_campaign_rows(
        MB22_LOCAL_TARGET, "C000000042", _target_rows(5), request_version=VERSION
    )
    assert written == 5
    kinds = [e for e in db.events() if e != "batch"]
    # rows, then the ledger row and the registry's target count, then one commit
    ledger_and_count = ["execute"] * 3
    assert kinds == ["connect", "execute", *["executemany"] * 3, *ledger_and_count, "commit",
                     "close"]
    assert [e[1] for e in db.log if e[0] == "batch"] == [2, 2, 1]
    delete, *inserts = db.executed("dssb_ocds.mb22_local_target")
    assert delete[1] == statements.delete_campaign_rows(MB22_LOCAL_TARGET)
    assert delete[2] == {"campaign_code": "C000000042"}
    assert [(e[1], e[2], e[3]) for e in inserts] == [
        (statements.insert_rows(MB22_LOCAL_TARGET), rows, 2) for rows in (2, 2, 1)
    ]


def test_replace_with_no_rows_only_deletes(deployment, db):
    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(0)) == 0
    assert not db.executed("INSERT INTO dssb_ocds.mb22_local_target")
    assert db.executed(f"INSERT INTO {LEDGER}")[0][2]["row_count"] == 0
    assert db.events().count("commit") == 1


def test_the_ledger_row_is_replaced_in_the_loads_own_transaction(deployment, db):
    deployment.replace_campaign_rows(
        MB22_LOCAL_TARGET, "C000000042", _target_rows(3), request_version=VERSION
    )
    (clear,) = db.executed("DELETE FROM campaign_ops.campaign_deployments")
    assert clear[2] == {"campaign_code": "C000000042", "table_name": MB22_LOCAL_TARGET.qualified}
    (row,) = db.executed(f"INSERT INTO {LEDGER}")
    assert row[2]["request_version"] == VERSION and row[2]["row_count"] == 3
    (count,) = db.executed("UPDATE campaign_ops.campaign_registry SET user_count")
    assert count[2]["row_count"] == 3 and count[2]["campaign_code"] == "C000000042"
    commit = db.events().index("commit")
    assert all(db.log.index(e) < commit for e in (clear, row, count))
    assert db.events().count("connect") == 1


def test_a_failed_load_leaves_the_ledger_alone(deployment, db):
    db.fails("INSERT INTO dssb_ocds.mb22_local_target", ora_error(942, "no such table"))
    with pytest.raises(oracledb.DatabaseError):
        deployment.replace_campaign_rows(
            MB22_LOCAL_TARGET, "C000000042", _target_rows(2), request_version=VERSION
        )
    assert not db.executed(LEDGER) and "commit" not in db.events()


def test_a_table_without_a_registry_count_leaves_the_registry_alone(deployment, db):
    rows = pl.DataFrame(schema=dict.fromkeys(FD_RB2_CAMPAIGNS_USERS.column_names, pl.String))
    deployment.replace_campaign_rows(FD_RB2_CAMPAIGNS_USERS, "C000000042", rows)
    assert not db.executed("campaign_ops.campaign_registry")
    assert db.executed(f"INSERT INTO {LEDGER}")[0][2]["request_version"] is None


def test_error_mid_batch_rolls_back_and_names_the_table(deployment, db):
    too_wide = ora_error(12899, 'value too large for column "DSSB_OCDS"."MB22_LOCAL_TARGET"."IIN"')
    db.fails("INSERT INTO dssb_ocds.mb22_local_target", too_wide, after=1)
    db.returns("DELETE", 3)
    with pytest.raises(oracledb.DatabaseError, match="ORA-12899") as raised:
        deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(5))
    notes = " ".join(raised.value.__notes__)
    assert "dssb_ocds.mb22_local_target: inserting rows 3-4 of 5" in notes
    assert "rolled back" in notes
    assert db.events()[-2:] == ["rollback", "close"] and "commit" not in db.events()
    assert db.events().count("batch") == 1  # the first batch went, the second failed
    assert db.events().count("connect") == 1  # permanent: not retried


def test_duplicate_key_in_a_user_table_is_a_duplicate_rows_error(deployment, db):
    duplicate = ora_error(1, "unique constraint (DSSB_OCDS.MB22_PK) violated")
    db.fails("INSERT INTO dssb_ocds.mb22_local_target", duplicate)
    with pytest.raises(DuplicateRowsError, match="dssb_ocds.mb22_local_target") as raised:
        deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(2))
    assert raised.value.constraint == "DSSB_OCDS.MB22_PK"
    assert "ORA-00001" in str(raised.value) and "Help:" not in str(raised.value)
    assert "rollback" in db.events() and "commit" not in db.events()


# --- transient and permanent errors -------------------------------------------------------


def test_driver_built_errors_classify_as_expected():
    assert is_transient(connection_closed())
    assert is_transient(ora_error(1033, "ORACLE initialization or shutdown in progress"))
    assert not is_transient(ora_error(942, "table or view does not exist"))
    assert isinstance(ora_error(1, UNIQUE), oracledb.IntegrityError)


def test_a_transient_error_goes_up_once_rolled_back_for_the_step_to_retry(deployment, db):
    db.fails("DELETE FROM dssb_ocds.mb22_local_target", connection_closed())
    with pytest.raises(oracledb.Error, match="DPY-4011") as raised:
        deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(3))
    assert is_transient(raised.value)
    assert "the transaction was rolled back" in " ".join(raised.value.__notes__)
    assert db.events() == ["connect", "execute", "rollback", "close"]
    # the next attempt (the step's) is a fresh unit of work that succeeds
    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(3)) == 3
    assert db.events().count("connect") == 2 and db.events().count("commit") == 1


def test_no_operation_retries_inside_the_adapter(deployment, db):
    restarting = ora_error(1033, "ORACLE initialization or shutdown in progress")
    db.fails("DELETE", restarting, times=9)
    with pytest.raises(oracledb.DatabaseError, match="ORA-01033"):
        deployment.delete_campaign("C000000042")
    db.fails("CREATE TABLE", restarting, times=9)
    with pytest.raises(oracledb.DatabaseError, match="ORA-01033"):
        deployment.init_schema()
    assert db.events().count("connect") == 2


def test_permanent_error_fails_at_once_with_the_database_message(deployment, db):
    db.fails("MAX(code)", ora_error(942, "table or view does not exist"))
    with pytest.raises(oracledb.DatabaseError, match="ORA-00942: table or view does not exist"):
        deployment.preview_codes("RB1")
    assert db.events().count("connect") == 1


# --- registry and reads -------------------------------------------------------------------


def test_delete_campaign_is_one_transaction(deployment, db):
    db.returns("DELETE FROM dssb_ocds.mb22_local_target", 5)
    db.returns("DELETE FROM spss.off_limit_campaigns_users", 6)
    removed = deployment.delete_campaign("C000000042")
    assert removed["dssb_ocds.mb22_local_target"] == 5
    assert removed["spss.off_limit_campaigns_users"] == 6
    assert set(removed) == {t.qualified for t in DEPLOYMENT_TABLES}
    assert len(db.executed("DELETE FROM")) == 7  # the six tables and the ledger
    (clear,) = db.executed("DELETE FROM campaign_ops.campaign_deployments")
    assert clear[2] == {"campaign_code": "C000000042"}
    assert LEDGER not in removed
    assert db.executed("SET deleted_at")[0][2]["campaign_code"] == "C000000042"
    assert db.events().count("connect") == 1 and db.events().count("commit") == 1


def test_deployments_have_lower_case_columns_and_duckdb_types(deployment, db):
    names = [name.upper() for name in CAMPAIGN_DEPLOYMENTS.column_names]
    row = dict(zip(names, ["C000000042", "dssb_ocds.mb22_local_target", VERSION, 5,
                           datetime(2026, 3, 1, 9)], strict=True))
    db.returns(f"FROM {LEDGER}", pa.Table.from_pylist([row]))
    ledger = deployment.deployments()
    assert ledger.columns == CAMPAIGN_DEPLOYMENTS.column_names
    assert ledger["row_count"].dtype == pl.Int64 and ledger["row_count"].to_list() == [5]


def test_off_limit_iins_without_an_own_campaign_binds_null_explicitly(deployment, db):
    db.returns("off_limit_campaigns_users", pa.table({"IIN": ["900101300123"]}))
    frame = deployment.off_limit_iins(date(2026, 2, 1), date(2026, 3, 31), None)
    assert frame.columns == ["iin"] and frame["iin"].to_list() == ["900101300123"]
    # Oracle reads '' as NULL and `<> NULL` matches nothing: the statement tests NULL itself.
    (statement,) = db.executed("off_limit")
    assert ":own_code IS NULL" in statement[1] and statement[2]["own_code"] is None


def test_registry_has_lower_case_columns_and_duckdb_types(deployment, db):
    names = [name.upper() for name in CAMPAIGN_REGISTRY.column_names]
    row = dict.fromkeys(names)
    row |= {"CAMPAIGN_CODE": "C000000042", "DATE_START": datetime(2026, 3, 1), "USER_COUNT": 10}
    db.returns("SELECT * FROM campaign_ops.campaign_registry", pa.Table.from_pylist([row]))
    registry = deployment.registry()
    assert registry.columns == CAMPAIGN_REGISTRY.column_names
    assert registry["date_start"].to_list() == [date(2026, 3, 1)]
    assert registry["user_count"].dtype == pl.Int64


def test_a_dropped_read_goes_up_once_then_the_next_read_works(deployment, db):
    db.fails("SELECT * FROM campaign_ops.campaign_registry", connection_closed())
    db.returns("SELECT * FROM campaign_ops.campaign_registry", _empty_registry())
    with pytest.raises(oracledb.Error, match="DPY-4011") as raised:
        deployment.registry()
    assert is_transient(raised.value) and db.events().count("connect") == 1
    assert deployment.registry().is_empty()


def _empty_registry() -> pa.Table:
    return pa.table(
        {name.upper(): pa.array([], pa.string()) for name in CAMPAIGN_REGISTRY.column_names}
    )
