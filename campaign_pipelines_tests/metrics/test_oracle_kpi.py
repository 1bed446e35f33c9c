"""campaign_ops.kpi_daily in the bank's Oracle, against the recording fake (no Oracle server
runs here): its DDL and statements parse as Oracle SQL, the days are replaced in one
transaction with named binds, the rows bind in column order, and reads come back as
KPI_SCHEMA."""

from __future__ import annotations

from datetime import date, datetime

import oracledb
import pyarrow as pa
import pytest
import sqlglot

from campaign_pipelines.adapters.metrics_store import read_activity, read_events
from campaign_pipelines.adapters.reference_config import default_config_path, load_reference_config
from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.adapters.warehouse.ddl import WAREHOUSE_TABLES, ddl
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.core.metrics.outcomes import Period
from campaign_pipelines.core.metrics.rollup import KPI_DAILY, KPI_SCHEMA, Activity, daily_kpis
from campaign_pipelines_tests.adapters.oracle_fake import FakeOracle, ora_error, placeholders
from campaign_pipelines_tests.adapters.test_oracle_schema_check import catalog
from campaign_pipelines_tests.metrics.test_rollup import EVERYTHING

DAY = date(2026, 11, 30)


@pytest.fixture
def db() -> FakeOracle:
    return FakeOracle()


@pytest.fixture
def deployment(db: FakeOracle) -> OracleDeployment:
    warehouse = OracleWarehouse(dsn="db:1521/free", user="campaigns",
                                password="secret",  # noqa: S106 - the fake ignores it
                                connect_fn=db.connect)
    return OracleDeployment(warehouse, batch_size=2)


def test_the_kpi_ddl_is_oracle_sql_with_a_number_for_rates():
    text = ddl(KPI_DAILY, "oracle")
    tree = sqlglot.parse_one(text, read="oracle")
    assert isinstance(tree, sqlglot.exp.Create)
    assert "delivery_rate NUMBER," in text and "campaign VARCHAR2(200 CHAR)" in text
    assert "CONSTRAINT kpi_daily_pk PRIMARY KEY (day, campaign, channel)" in text
    assert WAREHOUSE_TABLES[-1] is KPI_DAILY  # `campaigns db ddl` prints it


def test_the_kpi_statements_parse_and_name_their_binds():
    assert placeholders(statements.KPI_DELETE_DAYS) == ["first", "last"]
    assert sorted(set(placeholders(statements.kpi_select(KPI_SCHEMA.names())))) == [
        "campaign", "first", "last"]
    assert placeholders(statements.insert_rows(KPI_DAILY)) == [c.lower() for c in
                                                               KPI_SCHEMA.names()]


def test_replacing_a_day_deletes_then_inserts_in_batches_in_one_transaction(deployment, db):
    rows = daily_kpis(EVERYTHING, DAY, DAY)
    assert deployment.replace_kpi_days(DAY, DAY, rows) == rows.height == 6
    kinds = [e for e in db.events() if e != "batch"]
    assert kinds == ["connect", "execute", "executemany", "executemany", "executemany",
                     "commit", "close"]
    delete, *inserts = db.executed("campaign_ops.kpi_daily")
    assert delete[1] == statements.KPI_DELETE_DAYS and delete[2] == {"first": DAY, "last": DAY}
    assert [e[2] for e in inserts] == [2, 2, 2]  # batch_size 2


def test_a_day_without_activity_only_deletes(deployment, db):
    assert deployment.replace_kpi_days(DAY, DAY, daily_kpis(Activity(), DAY, DAY)) == 0
    assert [e for e in db.events()] == ["connect", "execute", "commit", "close"]


def test_a_failed_insert_rolls_the_delete_back(deployment, db):
    db.fails("INSERT INTO campaign_ops.kpi_daily", ora_error(1438, "value larger than "
                                                                   "specified precision"))
    with pytest.raises(oracledb.DatabaseError, match="ORA-01438"):
        deployment.replace_kpi_days(DAY, DAY, daily_kpis(EVERYTHING, DAY, DAY))
    assert db.events()[-2:] == ["rollback", "close"] and "commit" not in db.events()


def test_rows_read_back_have_lower_case_names_and_kpi_types(deployment, db):
    db.returns("FROM campaign_ops.kpi_daily", pa.table({
        **{name.upper(): pa.array([None], pa.int64()) for name in KPI_SCHEMA.names()},
        "DAY": pa.array([datetime(2026, 11, 30)]), "CAMPAIGN": ["promo"], "CHANNEL": ["sms"],
        "DELIVERY_RATE": pa.array([0.5]), "FAILURE_RATE": pa.array([None], pa.float64()),
        "OPT_OUT_RATE": pa.array([None], pa.float64())}))
    rows = deployment.kpi_rows(DAY, DAY, "promo")
    assert rows.schema == KPI_SCHEMA and rows.row(0)[:3] == (DAY, "promo", "sms")
    [read] = db.executed("FROM campaign_ops.kpi_daily")
    assert read[2] == {"first": DAY, "last": DAY, "campaign": "promo"}


def test_init_kpi_table_creates_it_and_leaves_an_existing_one(deployment, db):
    deployment.init_kpi_table()
    db.fails("CREATE TABLE campaign_ops.kpi_daily", ora_error(955, "name is already used"))
    db.returns("all_tab_columns", catalog(KPI_DAILY))  # the one there matches the DDL
    deployment.init_kpi_table()
    assert len(db.executed("CREATE TABLE campaign_ops.kpi_daily")) == 2


def _reader(db: FakeOracle) -> OracleWarehouse:
    return OracleWarehouse(dsn="db:1521/free", user="campaigns",
                           password="secret",  # noqa: S106 - the fake ignores it
                           connect_fn=db.connect)


def test_with_oracle_the_rollup_reads_the_deployment_ledger_of_the_days_only(db):
    db.returns("campaign_ops.campaign_deployments", pa.table({
        "CAMPAIGN_CODE": ["C000000001"], "TABLE_NAME": ["dssb_ocds.mb22_local_target"],
        "ROW_COUNT": pa.array([900], pa.int64()), "LOADED_AT": [datetime(2026, 11, 30, 4)]}))
    activity = read_activity(_reader(db), DAY, DAY)
    assert activity.streak_audit is None and activity.sms_ledger is None
    [(_, _, binds)] = db.executed("campaign_ops.campaign_deployments")
    assert binds["start_naive"] == datetime(2026, 11, 29, 19)  # 00:00 in Almaty
    assert set(binds) == {"start_naive", "end_naive", "target_table", "control_table"}
    assert daily_kpis(activity, DAY, DAY)["target"].to_list() == [900]


def test_with_oracle_the_events_query_wraps_the_configured_sql(db):
    events_sql = load_reference_config(default_config_path("oracle")).events
    db.returns("dssb_de.client_events", pa.table({
        "IIN": ["000000000001"], "EVENT": ["loan_opened"],
        "EVENT_DATE": [datetime(2026, 11, 3)]}))
    events = read_events(_reader(db), events_sql, "C000000001", "loan_opened",
                         Period(date(2026, 11, 2), date(2026, 11, 15), 3))
    assert events.columns == ["iin", "event", "event_date"]
    [(_, sql, binds)] = db.executed("dssb_de.client_events")
    assert binds == {"code": "C000000001", "action": "loan_opened",
                     "first": date(2026, 11, 2), "after": date(2026, 11, 19)}
    assert "FROM (SELECT TO_CHAR(iin) AS iin" in sql
