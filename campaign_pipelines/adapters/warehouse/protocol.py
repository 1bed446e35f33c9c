"""What a warehouse is to the rest of the project, as ``typing.Protocol`` classes.

``WarehouseReader``: reading with SQL (the reference extractions, the live blacklist), whole
(``fetch``) or streamed into Parquet (``extract``, see ``extract.py``).
``Deployment``: a campaign's codes, its rows in the six deployment tables, the registry and the
deployment ledger; and, as ``KpiTable``, the metrics domain's campaign_ops.kpi_daily.
``DuckDBWarehouse``/``DuckDBDeployment`` (embedded) and
``OracleWarehouse``/``OracleDeployment`` (the bank's) implement them with the same meaning;
``conformance.py`` makes mypy prove it.

Errors are part of the contract: implementations never retry; they raise, and
``errors.is_transient`` says which errors the calling step's RetryPolicy should retry.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from campaign_pipelines.adapters.warehouse.extract import Extracted, Transform
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.deployment import Table
from campaign_pipelines.core.requests import CampaignRequest


class WarehouseReader(Protocol):
    def describe(self) -> str:
        """Which warehouse, for messages (never a secret)."""
        ...

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """The rows of one query, named binds (``:name``)."""
        ...

    def extract(
        self,
        sql: str,
        path: Path,
        params: dict[str, Any] | None = None,
        transform: Transform | None = None,
    ) -> Extracted:
        """The rows of one query streamed into the Parquet file ``path``, batch by batch
        (each after ``transform``, one row group each), never all in memory at once; an empty
        result writes the query's columns and no rows."""
        ...


class KpiTable(Protocol):
    """campaign_ops.kpi_daily (core/metrics/rollup.py KPI_DAILY, KPI_SCHEMA rows)."""

    def init_kpi_table(self) -> None:
        """Creates campaign_ops.kpi_daily where missing (`campaigns db init`)."""
        ...

    def replace_kpi_days(self, first: date, last: date, rows: pl.DataFrame) -> int:
        """Deletes the rows of the days ``first``..``last`` and inserts ``rows`` (all within
        those days) in one transaction: re-running a day replaces it, never duplicates it."""
        ...

    def kpi_rows(self, first: date, last: date, campaign: str | None = None) -> pl.DataFrame:
        """KPI_SCHEMA rows of the days ``first``..``last`` (of one campaign or channel key)."""
        ...


class Deployment(KpiTable, Protocol):
    def init_schema(self) -> None:
        """Creates the deployment tables, the registry and the ledger where missing."""
        ...

    def allocate_codes(self, key: str, request: CampaignRequest) -> CampaignCodes:
        """The campaign's codes, kept across calls for one ``key``; race-free, never retried."""
        ...

    def preview_codes(self, campaign_type: str) -> CampaignCodes:
        """The codes a new campaign would get now; writes nothing."""
        ...

    def replace_campaign_rows(
        self,
        table: Table,
        campaign_code: str,
        rows: pl.DataFrame,
        request_version: str | None = None,
    ) -> int:
        """Replaces the campaign's rows in ``table`` (and its ledger row) in one transaction."""
        ...

    def off_limit_iins(
        self, window_from: date, window_to: date, own_code: str | None
    ) -> pl.DataFrame:
        """IINs other campaigns hold in the window (column ``iin``)."""
        ...

    def registry(self) -> pl.DataFrame: ...

    def deployments(self) -> pl.DataFrame: ...

    def delete_campaign(self, campaign_code: str) -> dict[str, int]:
        """Removes the campaign's rows everywhere and marks it deleted, atomically."""
        ...
