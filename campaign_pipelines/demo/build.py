"""Builds the demo data directory behind ``campaigns demo-data``.

Writes the synthetic bank into ``<data_dir>/warehouse.duckdb`` (schema ``sources``, the
embedded default's reference inputs) and the sample uploads and requests into
``<data_dir>/landing``. Re-running replaces everything it wrote, so the command is safe to
repeat. The DuckDB file is opened for this one unit of work and closed again: Dagster
processes may want it next (DuckDB allows one writing process per file).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import polars as pl

from campaign_pipelines.demo.landing_samples import write_landing_samples
from campaign_pipelines.demo.synthetic_bank import generate_bank

WAREHOUSE_FILE = "warehouse.duckdb"
SOURCES_SCHEMA = "sources"
LANDING_DIR = "landing"


def build_demo(data_dir: Path, customers: int, seed: int = 7) -> dict:
    """Generates the bank, loads it and writes the landing samples.

    Returns a summary fit for the CLI and for run metadata: rows per table, files written
    and seconds taken (generation, warehouse load and total).
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    bank = generate_bank(customers, seed)
    generated = time.perf_counter()
    warehouse = data_dir / WAREHOUSE_FILE
    write_sources(warehouse, bank)
    loaded = time.perf_counter()
    files = write_landing_samples(data_dir / LANDING_DIR, bank["customers"], seed)
    finished = time.perf_counter()
    return {
        "warehouse": str(warehouse),
        "tables": {f"{SOURCES_SCHEMA}.{name}": frame.height for name, frame in bank.items()},
        "files": [str(path) for path in files],
        "seconds": {
            "generate": round(generated - started, 3),
            "load": round(loaded - generated, 3),
            "total": round(finished - started, 3),
        },
    }


def write_sources(warehouse: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Replaces every ``sources.<name>`` table in one transaction: a reader sees the old bank
    or the new one, never a mix. Table names come from this package, never from input."""
    connection = duckdb.connect(str(warehouse))
    try:
        connection.execute("SET enable_progress_bar = false")
        connection.begin()
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SOURCES_SCHEMA}")
        for name, frame in tables.items():
            view = f"_demo_{name}"
            # Arrow string views go into DuckDB without a copy to large strings.
            connection.register(view, frame.to_arrow(compat_level=pl.CompatLevel.newest()))
            connection.execute(
                f"CREATE OR REPLACE TABLE {SOURCES_SCHEMA}.{name} AS SELECT * FROM {view}"  # noqa: S608
            )
            connection.unregister(view)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()
