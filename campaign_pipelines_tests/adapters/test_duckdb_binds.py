"""The DuckDB adapter takes named binds as the warehouse interface spells them (``:name``, as
Oracle does), so callers never branch on the dialect; a cast's ``::`` is not a bind."""

from datetime import time

import polars as pl

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse

QUERY = "SELECT :code AS code, '12:30'::TIME AS at, CAST(:n AS INTEGER) + 1 AS next"


def test_fetch_and_extract_take_colon_binds_and_leave_casts(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    fetched = warehouse.fetch(QUERY, {"code": "C000000001", "n": 41})
    assert fetched.rows() == [("C000000001", time(12, 30), 42)]
    warehouse.extract(QUERY, tmp_path / "out.parquet", {"code": "C000000002", "n": 1})
    assert pl.read_parquet(tmp_path / "out.parquet").rows() == [
        ("C000000002", time(12, 30), 2)]
