"""Both warehouses implement ``protocol``: mypy checks these assignments, nothing runs them.

    .venv/bin/mypy --follow-imports=silent --ignore-missing-imports \
        campaign_pipelines/adapters/warehouse/
"""

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.adapters.warehouse.protocol import Deployment, KpiTable, WarehouseReader


def _deployments(d: DuckDBDeployment, o: OracleDeployment) -> tuple[Deployment, Deployment]:
    return d, o


def _readers(d: DuckDBWarehouse, o: OracleWarehouse) -> tuple[WarehouseReader, WarehouseReader]:
    return d, o


def _kpi_tables(d: DuckDBDeployment, o: OracleDeployment) -> tuple[KpiTable, KpiTable]:
    return d, o
