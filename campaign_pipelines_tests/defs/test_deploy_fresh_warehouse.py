"""A fresh embedded warehouse works the first time: with only the reference sources filled (no
`campaigns db init`), the first deployment creates what it needs. Oracle is never changed
implicitly: a missing table is named with the fix (tested against the recording fake)."""

import duckdb
import pyarrow as pa
import pytest

from campaign_pipelines.adapters.warehouse import duckdb as duckdb_adapter
from campaign_pipelines.adapters.warehouse.ddl import ddl
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.oracle import (
    MissingTablesError,
    OracleDeployment,
    OracleWarehouse,
)
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines_tests.adapters.oracle_fake import FakeOracle
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.defs.test_deployment import _deploy

FIX = "run `campaigns db init` (or apply `campaigns db ddl --dialect oracle`)"


@pytest.fixture
def fresh_location(data_dir, instance):
    """The code location over a warehouse holding only sources.* (what a bank brings)."""
    from campaign_pipelines.definitions import defs
    from campaign_pipelines.service import Location, run_job

    loaded = Location(defs=defs(), instance=instance)
    assert run_job(loaded, "reference_refresh_job").success
    return loaded


def _schemas(db) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()
    return {row[0] for row in rows}


def test_the_first_deploy_on_a_warehouse_with_only_sources_works(fresh_location, data_dir):
    db = data_dir / "warehouse.duckdb"
    assert _schemas(db) == {"sources"}
    # off_limit_days: the audience reads the registry and the off-limit table first
    body = _deploy(fresh_location, "first.json", request_text(off_limit_days=30))
    assert body["success"], body["message"]
    assert body["deployment_result"]["errors"] == []
    assert {"campaign_ops", "dssb_ocds", "spss"} <= _schemas(db)


def test_the_tables_are_created_once_per_file_and_process(tmp_path, monkeypatch):
    calls = []
    create = duckdb_adapter._create_project_tables
    monkeypatch.setattr(
        duckdb_adapter, "_create_project_tables", lambda c: (calls.append(1), create(c))
    )
    warehouse = DuckDBWarehouse(tmp_path / "new.duckdb")
    DuckDBDeployment(warehouse).registry()
    DuckDBDeployment(warehouse).deployments()  # a new adapter over the same file
    DuckDBDeployment(warehouse).preview_codes("RB1")
    assert calls == [1]
    DuckDBDeployment(DuckDBWarehouse(tmp_path / "other.duckdb")).registry()
    assert calls == [1, 1]


def test_a_registry_from_before_the_ledger_gains_its_columns(tmp_path):
    path = tmp_path / "old.duckdb"
    old_columns = [c for c in tables.CAMPAIGN_REGISTRY.columns
                   if c[0] not in ("request_version", "deploy_tables")]
    old = tables.Table("campaign_ops", "campaign_registry", tuple(old_columns))
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA campaign_ops")
        connection.execute(ddl(old, "duckdb"))
    deployment = DuckDBDeployment(DuckDBWarehouse(path))
    deployment.allocate_codes("old", parse_request(request_text()))
    registry = deployment.registry()
    assert registry.columns == tables.CAMPAIGN_REGISTRY.column_names
    assert registry["request_version"][0] is not None


# --- Oracle: check, never create ----------------------------------------------------------


def _oracle(db: FakeOracle) -> OracleDeployment:
    warehouse = OracleWarehouse(
        dsn="db:1521/free",
        user="campaigns",
        password="secret",  # noqa: S106 - the fake ignores it
        connect_fn=db.connect,
    )
    return OracleDeployment(warehouse)


def _present(*names: str) -> pa.Table:
    owners, found = zip(*(name.upper().split(".") for name in names), strict=True)
    return pa.table({"OWNER": list(owners), "TABLE_NAME": list(found)})


def test_oracle_names_the_missing_tables_and_the_fix_and_creates_nothing():
    db = FakeOracle()
    present = [t.qualified for t in tables.PROJECT_TABLES if t is not tables.CAMPAIGN_DEPLOYMENTS]
    db.returns("all_tables", _present(*present))
    with pytest.raises(MissingTablesError) as raised:
        _oracle(db).replace_campaign_rows(
            tables.MB22_LOCAL_TARGET, "C000000042", _empty(tables.MB22_LOCAL_TARGET)
        )
    message = str(raised.value)
    assert message.startswith(
        "campaign_ops.campaign_deployments does not exist in the Oracle warehouse"
    )
    assert FIX in message
    assert not db.executed("CREATE") and not db.executed("DELETE") and "commit" not in db.events()
    (check,) = db.executed("all_tables")
    assert check[2] == {"campaign_ops": "CAMPAIGN_OPS", "dssb_ocds": "DSSB_OCDS", "spss": "SPSS"}


def test_oracle_checks_once_per_adapter_then_works():
    db = FakeOracle()
    db.returns("all_tables", _present(*(t.qualified for t in tables.PROJECT_TABLES)))
    db.returns("MAX(code)", [("C000000041",)])
    deployment = _oracle(db)
    assert deployment.preview_codes("RB1").campaign_code == "C000000042"
    deployment.preview_codes("RB1")
    assert len(db.executed("all_tables")) == 1


def test_oracle_init_schema_does_not_need_the_tables_to_exist():
    db = FakeOracle()
    _oracle(db).init_schema()
    assert not db.executed("all_tables")
    assert len(db.executed("CREATE TABLE")) == len(tables.PROJECT_TABLES)


def _empty(table: tables.Table):
    import polars as pl

    return pl.DataFrame(schema=tables.polars_schema(table))


def test_an_oracle_table_missing_a_new_column_fails_with_the_fix():
    import dagster as dg

    from campaign_pipelines.defs.failures import warehouse_work
    from campaign_pipelines_tests.adapters.oracle_fake import ora_error

    def insert() -> None:
        raise ora_error(904, '"REQUEST_VERSION": invalid identifier')

    with pytest.raises(dg.Failure) as raised:
        warehouse_work("campaign_ops.campaign_registry", insert)
    description = raised.value.description
    assert description.startswith("campaign_ops.campaign_registry: ORA-00904")
    assert "`campaigns db ddl --dialect oracle`" in description
    assert "add the missing column" in description
