"""How much memory an Oracle reference extract takes, measured in a process of its own.

    python -m campaign_pipelines_tests.adapters.extract_memory ROWS [ROWS ...]

prints a JSON list, one entry per ROWS in the order given: the peak resident set's growth (MB)
while ``OracleWarehouse.extract`` streams ROWS generated device rows from the recording fake
into Parquet, keyed per batch as the reference assets key them, the rows written and the most
fetched rows alive at once. A small extract runs first so that every module and thread pool is
loaded before the measurement. The extracts run one after the other in this process and each
growth is measured from the same point (after that first extract): the peak only ever rises, so
an entry is the peak of its extract and of those before it, and what a bigger extract adds over
a smaller one given before it is the difference of their entries.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from campaign_pipelines.adapters.warehouse.oracle import OracleWarehouse
from campaign_pipelines.core.reference import keyed_reference
from campaign_pipelines_tests.adapters.oracle_fake import FakeOracle, Rows

SQL = "SELECT TO_CHAR(iin) AS iin, device FROM dssb_de.client_devices"
SCHEMA = pa.schema([("IIN", pa.string()), ("DEVICE", pa.string())])
DEVICES = ("android", "ios", "web")


def device_rows(start: int, stop: int) -> pa.Table:
    """Rows ``start``..``stop - 1``: distinct 12-digit IINs, a device each."""
    numbers = np.arange(start, stop, dtype=np.int64)
    iins = pc.cast(pa.array(numbers + 900_101_000_000), pa.string())
    devices = pa.DictionaryArray.from_arrays(pa.array(numbers % 3), pa.array(DEVICES))
    return pa.table([iins, devices.cast(pa.string())], schema=SCHEMA)


def _keyed(frame):
    return keyed_reference(frame, "devices")[0]


def _extract(rows: int, path: Path) -> FakeOracle:
    db = FakeOracle()
    db.returns("client_devices", Rows(rows, SCHEMA, device_rows))
    warehouse = OracleWarehouse(dsn="db:1521/free", user="campaigns", password="-",
                                connect_fn=db.connect)
    warehouse.extract(SQL, path, transform=_keyed)
    return db


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(sizes: list[int]) -> list[dict]:
    measured = []
    with tempfile.TemporaryDirectory() as folder:
        _extract(60_000, Path(folder) / "warm.parquet")
        before = _peak_mb()
        for number, rows in enumerate(sizes):
            path = Path(folder) / f"devices_{number}.parquet"
            db = _extract(rows, path)
            growth = _peak_mb() - before
            written = pq.ParquetFile(path).metadata.num_rows
            path.unlink()
            measured.append({"rows": rows, "growth_mb": round(growth, 1),
                             "rows_written": written, "max_rows_alive": db.max_rows_alive})
    return measured


if __name__ == "__main__":
    print(json.dumps(main([int(rows) for rows in sys.argv[1:]])))
