"""How the Oracle adapter connects and binds, on the recording fake (no Oracle server runs here):
one pool per process with connect and wait timeouts, a connection per unit of work given back,
the errors worth a step's retry, and binds that keep Oracle's types (VARCHAR2, not LONG;
TIMESTAMP, not DATE) without ever handing the driver an empty frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import dagster as dg
import oracledb
import polars as pl
import pyarrow as pa
import pytest
from oracledb import errors as driver_errors

from campaign_pipelines.adapters.warehouse import oracle_connections
from campaign_pipelines.adapters.warehouse.errors import is_transient
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.adapters.warehouse.oracle_connections import arrow_binds, bind_timestamps
from campaign_pipelines.adapters.warehouse.oracle_errors import full_code
from campaign_pipelines.core.deployment import MB22_LOCAL_TARGET, PROJECT_TABLES
from campaign_pipelines.core.metrics.rollup import KPI_SCHEMA
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines_tests.adapters.oracle_fake import (
    FakeConnection,
    FakeCursor,
    FakeOracle,
    connection_closed,
    ora_error,
)

DSN, USER, PASSWORD = "db:1521/free", "campaigns", "secret"  # the fake ignores the password
LOADED = datetime(2026, 3, 1, 9, 30, 15, 123456)


# --- a fake that also keeps what executemany was handed, and a pool around it -------------


class _Cursor(FakeCursor):
    def executemany(self, statement: str, parameters: Any, **options: Any) -> None:
        self.database.bound.append(parameters)  # type: ignore[attr-defined]
        super().executemany(statement, parameters, **options)


class _Connection(FakeConnection):
    def cursor(self) -> FakeCursor:
        self._check_open()
        return _Cursor(self)


@dataclass
class RecordingOracle(FakeOracle):
    """``bound``: each Arrow table handed to ``executemany``, as it was handed."""

    bound: list[pa.Table] = field(default_factory=list)

    def connect(self, *, user: str, password: str, dsn: str) -> _Connection:
        super().connect(user=user, password=password, dsn=dsn)  # logs ("connect",)
        return _Connection(self)


class FakePool:
    """python-oracledb's ConnectionPool as the adapter uses it: acquire and release."""

    def __init__(self, db: RecordingOracle, **params: Any):
        self.db, self.params = db, params
        self.acquire_error: Exception | None = None

    def acquire(self) -> _Connection:
        if self.acquire_error:
            raise self.acquire_error
        p = self.params
        return self.db.connect(user=p["user"], password=p["password"], dsn=p["dsn"])

    def release(self, connection: _Connection) -> None:
        self.db.log.append(("release",))


@pytest.fixture
def db() -> RecordingOracle:
    return RecordingOracle()


@pytest.fixture
def pools(monkeypatch, db) -> list[FakePool]:
    """Every pool ``oracledb.create_pool`` made, in a process that had none yet."""
    made: list[FakePool] = []

    def create_pool(**params: Any) -> FakePool:
        made.append(FakePool(db, **params))
        return made[-1]

    monkeypatch.setattr(oracle_connections, "_POOLS", {})
    monkeypatch.setattr(oracledb, "create_pool", create_pool)
    return made


def _tables_exist(db: FakeOracle) -> None:
    db.returns("all_tables", pa.table({
        "OWNER": [t.schema.upper() for t in PROJECT_TABLES],
        "TABLE_NAME": [t.name.upper() for t in PROJECT_TABLES],
    }))


@pytest.fixture
def pooled_deployment(db, pools) -> OracleDeployment:
    """The production path: no stand-in connect, so connections come from the process pool."""
    _tables_exist(db)
    return OracleDeployment(OracleWarehouse(dsn=DSN, user=USER, password=PASSWORD), batch_size=2)


@pytest.fixture
def deployment(db) -> OracleDeployment:
    warehouse = OracleWarehouse(dsn=DSN, user=USER, password=PASSWORD, connect_fn=db.connect)
    deployment = OracleDeployment(warehouse, batch_size=2)
    _tables_exist(db)
    deployment.require_tables()
    db.log.clear()
    return deployment


def _target_rows(count: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"CAMPAIGNCODE": ["C000000042"] * count,
         "IIN": [f"{900101300000 + i}" for i in range(count)],
         "LOAD_DATE": [LOADED] * count},
        schema={"CAMPAIGNCODE": pl.String, "IIN": pl.String, "LOAD_DATE": pl.Datetime("us")},
    )


# --- transient errors ---------------------------------------------------------------------


def _connect_failed() -> oracledb.Error:
    """DPY-6005 as the thin driver raises it when the listener cannot be reached."""
    refused = ConnectionRefusedError(111, "Connection refused")
    return driver_errors._create_exception(
        driver_errors.ERR_CONNECTION_FAILED, connection_id="test", cause=refused
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_connect_failed(), "DPY-6005"),
        (ora_error(60, "deadlock detected while waiting for resource"), "ORA-00060"),
        (ora_error(54, "resource busy and acquire with NOWAIT specified"), "ORA-00054"),
    ],
    ids=["connect-failed", "deadlock", "resource-busy"],
)
def test_errors_the_driver_does_not_mark_recoverable_are_transient(error, code):
    assert full_code(error) == code
    assert not error.args[0].isrecoverable  # the driver's flag alone would fail the step
    assert is_transient(error)


@pytest.mark.parametrize("code", [60, 54])
def test_the_step_lets_its_retry_policy_see_them(code):
    """``warehouse_work`` (every warehouse step's body) re-raises a transient error as is, for
    the step's WAREHOUSE_RETRY; a permanent one becomes a Failure that is not retried."""
    for transient in (_connect_failed(), ora_error(code, "busy or deadlocked")):
        with pytest.raises(oracledb.Error) as raised:
            warehouse_work("dssb_ocds.mb22_local_target", _raises(transient))
        assert raised.value is transient
    with pytest.raises(dg.Failure) as failed:
        warehouse_work("dssb_ocds.mb22_local_target", _raises(ora_error(942, "no such table")))
    assert not failed.value.allow_retries


def _raises(error: Exception) -> Any:
    def work() -> None:
        raise error

    return work


def test_the_driver_flag_and_dropped_connections_stay_transient_and_the_rest_permanent():
    assert is_transient(connection_closed())
    assert is_transient(ora_error(1033, "ORACLE initialization or shutdown in progress"))
    assert not is_transient(ora_error(942, "table or view does not exist"))
    assert not is_transient(ora_error(1, "unique constraint (X.Y) violated"))
    assert not is_transient(ora_error(12899, 'value too large for column "X"'))


def test_a_deadlock_goes_up_once_with_its_code_rolled_back(deployment, db):
    db.fails("DELETE FROM dssb_ocds.mb22_local_target", ora_error(60, "deadlock detected"))
    with pytest.raises(oracledb.DatabaseError, match="ORA-00060") as raised:
        deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(3))
    assert is_transient(raised.value) and full_code(raised.value) == "ORA-00060"
    assert db.events() == ["connect", "execute", "rollback", "close"]


# --- the process pool -----------------------------------------------------------------------


def test_nothing_connects_until_a_unit_of_work_needs_it(pools):
    OracleDeployment(OracleWarehouse(dsn=DSN, user=USER, password=PASSWORD))
    assert pools == []


def test_the_pool_connects_with_timeouts_and_waits_a_bounded_time(pooled_deployment, pools):
    pooled_deployment.require_tables()
    (pool,) = pools
    assert pool.params | {"password": "?"} == {
        "user": USER, "password": "?", "dsn": DSN,
        "tcp_connect_timeout": 10.0, "expire_time": 2,
        "min": 0, "max": 4, "increment": 1,
        "getmode": oracledb.POOL_GETMODE_TIMEDWAIT, "wait_timeout": 30_000,
        "timeout": 300, "ping_interval": 60,
    }
    # the wait for a free connection outlasts a connect attempt: unreachable stays DPY-6005
    assert pool.params["wait_timeout"] / 1000 > pool.params["tcp_connect_timeout"]


def test_one_pool_serves_every_operation_of_the_process(pooled_deployment, pools, db):
    pooled_deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(3))
    db.returns("MAX(code)", [("C000000041",)])
    other = OracleDeployment(OracleWarehouse(dsn=DSN, user=USER, password=PASSWORD))
    assert other.preview_codes("RB1").campaign_code == "C000000042"
    assert len(pools) == 1
    # each unit of work (the table check, the replace, the other's check, the preview) took a
    # connection and gave it back
    assert db.events().count("connect") == db.events().count("release") == 4
    assert "close" not in db.events()
    assert db.events().count("commit") == 2


def test_a_forked_process_gets_its_own_pool(pooled_deployment, pools, monkeypatch):
    pooled_deployment.require_tables()
    monkeypatch.setattr(oracle_connections.os, "getpid", lambda: -1)
    OracleDeployment(OracleWarehouse(dsn=DSN, user=USER, password=PASSWORD)).require_tables()
    assert len(pools) == 2


def test_a_failed_unit_of_work_gives_its_connection_back(pooled_deployment, pools, db):
    db.fails("DELETE FROM dssb_ocds.mb22_local_target", ora_error(54, "resource busy"))
    with pytest.raises(oracledb.DatabaseError, match="ORA-00054") as raised:
        pooled_deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(1))
    assert is_transient(raised.value)
    assert db.events()[-2:] == ["rollback", "release"]
    assert db.events().count("connect") == db.events().count("release")


def test_a_failed_connect_is_raised_with_its_code_and_what_was_attempted(pooled_deployment, db):
    pool = oracle_connections.process_pool(DSN, USER, PASSWORD)
    pool.acquire_error = _connect_failed()
    with pytest.raises(oracledb.OperationalError, match="DPY-6005") as raised:
        pooled_deployment.registry()
    assert is_transient(raised.value)
    assert f"connecting to Oracle {DSN} as {USER}" in raised.value.__notes__
    assert PASSWORD not in str(raised.value) + " ".join(raised.value.__notes__)
    assert db.events() == []


# --- binds ----------------------------------------------------------------------------------


def test_text_binds_as_string_not_large_string(deployment, db):
    rows = _target_rows(3)
    assert rows.to_arrow().schema.field("IIN").type == pa.large_string()  # polars' own
    deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", rows)
    assert [batch.num_rows for batch in db.bound] == [2, 1]
    for batch in db.bound:
        assert batch.schema.field("CAMPAIGNCODE").type == pa.string()
        assert batch.schema.field("IIN").type == pa.string()
        assert not any(pa.types.is_large_string(f.type) for f in batch.schema)


def test_timestamps_bind_as_arrow_timestamps_with_microseconds(deployment, db):
    deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(3))
    for batch in db.bound:
        assert batch.schema.field("LOAD_DATE").type == pa.timestamp("us")
        assert set(batch.column("LOAD_DATE").to_pylist()) == {LOADED}  # 123456 us kept


def test_python_datetimes_bind_as_timestamp_not_date(deployment, db):
    deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(1))
    (ledger,) = db.executed("INSERT INTO campaign_ops.campaign_deployments")
    assert isinstance(ledger[2]["loaded_at"], datetime)

    class Cursor:
        def var(self, db_type: Any, arraysize: int) -> tuple:
            return (db_type, arraysize)

    # every connection the adapter uses carries the handler python-oracledb asks per value
    with deployment.warehouse.connect() as connection:
        assert connection.inputtypehandler is bind_timestamps
    now = datetime(2026, 3, 1, 9, 30, 15, 123456)
    assert bind_timestamps(Cursor(), now, 1) == (oracledb.DB_TYPE_TIMESTAMP, 1)
    assert bind_timestamps(Cursor(), date(2026, 3, 1), 1) is None  # DATE columns stay DATE
    assert bind_timestamps(Cursor(), "C000000042", 1) is None


def test_the_pooled_connections_carry_the_timestamp_handler(pooled_deployment):
    with pooled_deployment.warehouse.connect() as connection:
        assert connection.inputtypehandler is bind_timestamps


def test_arrow_binds_import_through_the_driver_as_varchar_types():
    batch = arrow_binds(_target_rows(2).to_arrow())
    assert batch.schema == pa.schema([("CAMPAIGNCODE", pa.string()), ("IIN", pa.string()),
                                      ("LOAD_DATE", pa.timestamp("us"))])
    frame = oracledb.from_arrow(batch)
    assert frame.num_rows() == 2 and frame.column_names() == batch.schema.names


def test_an_empty_frame_makes_no_executemany_call(deployment, db):
    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, "C000000042", _target_rows(0)) == 0
    assert db.bound == [] and not [e for e in db.log if e[0] == "executemany"]
    assert db.events().count("commit") == 1  # the delete and the ledger row still commit


def test_an_empty_kpi_replace_makes_no_executemany_call(deployment, db):
    written = deployment.replace_kpi_days(date(2026, 3, 1), date(2026, 3, 2),
                                          pl.DataFrame(schema=KPI_SCHEMA))
    assert written == 0 and db.bound == []
    assert db.executed("DELETE FROM campaign_ops.kpi_daily")
