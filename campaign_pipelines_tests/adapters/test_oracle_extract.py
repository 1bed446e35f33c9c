"""Streamed reference extracts (issue 14, point 8): ``fetch_df_batches`` of 50,000 rows straight
into Parquet, one row group per batch, with memory that does not grow with the result; the
reference assets store what the stream wrote. Oracle through the recording fake, DuckDB for
real, since both implement ``WarehouseReader.extract``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.warehouse import extract
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.errors import is_transient
from campaign_pipelines.adapters.warehouse.extract import (
    EXTRACT_BATCH_ROWS,
    ExtractError,
    write_batches,
)
from campaign_pipelines.adapters.warehouse.oracle import OracleWarehouse
from campaign_pipelines.core.reference import ReferenceShapeError, keyed_reference
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.reference import assets as reference_assets
from campaign_pipelines.defs.resources import WarehouseResource
from campaign_pipelines_tests.adapters.extract_memory import SCHEMA, SQL, device_rows
from campaign_pipelines_tests.adapters.oracle_fake import FakeOracle, Rows, connection_closed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db() -> FakeOracle:
    return FakeOracle()


def _warehouse(db: FakeOracle) -> OracleWarehouse:
    return OracleWarehouse(dsn="db:1521/free", user="campaigns", password="-",
                           connect_fn=db.connect)


def _fetched(db: FakeOracle) -> list[int]:
    return [entry[1] for entry in db.log if entry[0] == "fetched"]


def test_the_extract_asks_for_batches_of_50000_rows():
    assert EXTRACT_BATCH_ROWS == 50_000
    assert OracleWarehouse(dsn="-", user="-", password="-").extract_batch_rows == 50_000


def test_a_multi_batch_extract_writes_every_row_once_one_row_group_per_batch(db, tmp_path):
    db.returns("client_devices", Rows(120_001, SCHEMA, device_rows))
    path = tmp_path / "devices.parquet"
    sql = f"{SQL} WHERE updated_at >= :since"
    extracted = _warehouse(db).extract(sql, path, {"since": 3})  # a bind, by name
    assert db.batch_sizes() == [50_000]
    assert _fetched(db) == [50_000, 50_000, 20_001]
    assert db.executed("client_devices")[0][2] == {"since": 3}
    assert (extracted.rows_read, extracted.rows_written, extracted.batches) == (
        120_001, 120_001, 3)
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow.equals(SCHEMA)
    assert [parquet.metadata.row_group(i).num_rows for i in range(3)] == [
        50_000, 50_000, 20_001]
    stored = pl.read_parquet(path)
    expected = pl.from_arrow(device_rows(0, 120_001))
    assert stored.height == 120_001 and stored["IIN"].n_unique() == 120_001
    assert stored.sort("IIN").equals(expected.sort("IIN"))
    assert db.events()[-1] == "close"


def test_each_batch_goes_through_the_transform_before_it_is_written(db, tmp_path):
    db.returns("client_devices", Rows(100_000, SCHEMA, device_rows))
    seen = []

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        seen.append(frame.height)
        return keyed_reference(frame, "devices")[0]

    path = tmp_path / "devices.parquet"
    _warehouse(db).extract(SQL, path, transform=keyed)
    assert seen == [50_000, 50_000]
    assert pq.read_schema(path).names == ["iin_key", "device"]
    stored = pl.read_parquet(path)
    assert stored.schema == pl.Schema({"iin_key": pl.Int64, "device": pl.String})
    assert stored["iin_key"].min() == 900_101_000_000 and stored.height == 100_000


def test_fetched_batches_are_let_go_one_by_one(db, tmp_path):
    """The deterministic half of 'bounded': 40 batches, never more than one batch of fetched
    rows referenced at once (a list of batches, or fetch_df_all, would hold all 2M)."""
    db.returns("client_devices", Rows(2_000_000, SCHEMA, device_rows))
    extracted = _warehouse(db).extract(SQL, tmp_path / "devices.parquet")
    assert extracted.batches == 40 and extracted.rows_written == 2_000_000
    assert 0 < db.max_rows_alive <= EXTRACT_BATCH_ROWS


def _measure(*sizes: int) -> list[dict]:
    """``extract_memory`` over ``sizes``, one after the other in one fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "campaign_pipelines_tests.adapters.extract_memory",
         *map(str, sizes)], cwd=REPO, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


@pytest.mark.long_pole(seconds=3)
def test_resident_memory_does_not_grow_with_the_size_of_the_extract():
    """The measured half: the peak resident set grows by about the same few tens of MB for an
    extract of 6 batches and one of 30, run in that order in one process (so the second adds to
    the peak only what it needs beyond the first); holding the rows would cost ~30 bytes each
    (the IIN strings alone 16), so the 1.2M more rows would add 35+ MB. Measured 2026-11-30:
    ~23-31 MB for 300k rows and 2-8 MB more for 1.5M; holding every fetched batch made the
    1.5M extract add ~42 MB more, holding only the keyed batches ~28 MB (the whole 2M-row
    frame, keyed as before, grew it by ~630 MB)."""
    small, large = _measure(300_000, 1_500_000)
    assert (small["rows_written"], large["rows_written"]) == (300_000, 1_500_000)
    assert large["max_rows_alive"] <= EXTRACT_BATCH_ROWS
    assert large["growth_mb"] - small["growth_mb"] < 15, (small, large)
    assert large["growth_mb"] < 64, large


def test_an_empty_result_writes_a_valid_parquet_with_the_columns(db, tmp_path):
    db.returns("client_devices", SCHEMA.empty_table())
    path = tmp_path / "devices.parquet"
    extracted = _warehouse(db).extract(SQL, path)
    assert (extracted.rows_read, extracted.rows_written, extracted.batches) == (0, 0, 1)
    assert _fetched(db) == [0]
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow.equals(SCHEMA) and parquet.metadata.num_rows == 0
    assert parquet.metadata.num_row_groups == 0
    assert pl.scan_parquet(path).collect().columns == ["IIN", "DEVICE"]


def test_an_empty_result_still_goes_through_the_transform(db, tmp_path):
    """So an empty dataset is stored in its keyed shape, and a query with the wrong columns is
    refused even when it returns nothing."""
    db.returns("client_devices", SCHEMA.empty_table())
    path = tmp_path / "devices.parquet"
    _warehouse(db).extract(SQL, path, transform=lambda f: keyed_reference(f, "devices")[0])
    assert pl.read_parquet(path).schema == pl.Schema({"iin_key": pl.Int64,
                                                      "device": pl.String})
    db.returns("client_platforms", pa.schema([("IIN", pa.string()),
                                               ("PLATFORM", pa.string())]).empty_table())
    with pytest.raises(ReferenceShapeError, match="missing \\['device'\\]"):
        _warehouse(db).extract("SELECT iin, platform FROM client_platforms", path,
                               transform=lambda f: keyed_reference(f, "devices")[0])


def test_a_connection_dropped_mid_stream_leaves_the_previous_file(db, tmp_path):
    def dropping(start: int, stop: int) -> pa.Table:
        if start >= 100_000:
            raise connection_closed()
        return device_rows(start, stop)

    path = tmp_path / "devices.parquet"
    path.write_bytes(b"yesterday")
    db.returns("client_devices", Rows(200_000, SCHEMA, dropping))
    with pytest.raises(Exception) as dropped:
        _warehouse(db).extract(SQL, path)
    assert is_transient(dropped.value)  # the step's RetryPolicy runs it again
    assert path.read_bytes() == b"yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["devices.parquet"]  # no temp file left
    assert db.events()[-1] == "close"


def test_batches_whose_columns_disagree_are_refused_naming_the_batch(tmp_path):
    first = pa.table({"IIN": ["900101300123"]})
    second = pa.table({"IIN": pa.array([[1]], pa.list_(pa.int64()))})
    with pytest.raises(ExtractError, match="batch 2 has columns"):
        write_batches([first, second], tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_duckdb_streams_the_same_way(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as connection:
        connection.execute("CREATE TABLE devices AS SELECT (900101000000 + range)::VARCHAR "
                           "AS iin, 'ios' AS device FROM range(120001)")
    path = tmp_path / "devices.parquet"
    extracted = warehouse.extract("SELECT iin, device FROM devices WHERE iin > $low", path,
                                  {"low": "0"})
    assert extracted.rows_written == 120_001 and extracted.batches >= 3
    assert pq.ParquetFile(path).metadata.num_row_groups == extracted.batches
    assert pl.read_parquet(path)["iin"].n_unique() == 120_001
    empty = warehouse.extract("SELECT iin, device FROM devices WHERE false", path)
    assert empty.rows_written == 0
    assert pq.read_schema(path).names == ["iin", "device"]


# --- the reference assets store what the stream wrote ------------------------------------

_FAKES: dict[str, FakeOracle] = {}


class _FakeOracleResource(WarehouseResource):
    fake: str

    def adapter(self) -> OracleWarehouse:
        return _warehouse(_FAKES[self.fake])

    def deployment(self):
        raise NotImplementedError


def _repeating_devices(start: int, stop: int) -> pa.Table:
    """Rows whose IIN repeats every 70,000 (so across batches) and every 13th is unusable."""
    iins = ["n/a" if i % 13 == 0 else str(900_101_000_000 + i % 70_000)
            for i in range(start, stop)]
    return pa.table({"IIN": iins, "DEVICE": ["ios"] * (stop - start)}, schema=SCHEMA)


def test_the_devices_asset_stores_the_stream_keyed_and_distinct(db, tmp_path, request):
    db.returns("client_devices", Rows(140_000, SCHEMA, _repeating_devices))
    _FAKES[request.node.name] = db
    resource = _FakeOracleResource(fake=request.node.name,
                                   reference_config_path=str(default_config_path("oracle")))
    try:
        result = dg.materialize(
            [reference_assets.reference_devices],
            resources={"warehouse": resource,
                       "io_manager": ParquetIOManager(base_dir=str(tmp_path / "assets"))})
    finally:
        del _FAKES[request.node.name]
    assert db.batch_sizes() == [50_000] and _fetched(db) == [50_000, 50_000, 40_000]
    stored = pl.read_parquet(tmp_path / "assets" / "reference" / "devices" / "__all__.parquet")
    unusable = sum(1 for i in range(140_000) if i % 13 == 0)
    usable = {i % 70_000 for i in range(140_000) if i % 13}
    assert stored.height == len(usable) == stored["iin_key"].n_unique()
    assert set(stored["iin_key"]) == {900_101_000_000 + i for i in usable}
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["dagster/row_count"].value == len(usable)
    assert metadata["rows_without_usable_iin"].value == unusable


def test_distinct_rows_spills_past_its_memory_budget_and_keeps_the_columns(tmp_path,
                                                                          monkeypatch):
    # A budget this hash table does not fit in: without its spill folder DuckDB runs out of
    # memory here (OutOfMemoryException, checked by hand with temp_directory unset).
    monkeypatch.setattr(extract, "DISTINCT_MEMORY_LIMIT", "32MB")
    rows = pl.DataFrame({"iin_key": [i % 400_000 for i in range(1_200_000)],
                         "month": [date(2026, 1 + i % 2, 1) for i in range(1_200_000)]})
    path = tmp_path / "staged.parquet"
    rows.write_parquet(path, row_group_size=50_000)
    distinct = extract.distinct_rows(path)
    assert distinct.schema == rows.schema
    assert distinct.height == 400_000 == distinct.unique().height  # i%400k fixes i%2
    assert distinct.sort("iin_key").equals(rows.unique().sort("iin_key"))
    rows.clear().write_parquet(path)
    assert extract.distinct_rows(path).schema == rows.schema
