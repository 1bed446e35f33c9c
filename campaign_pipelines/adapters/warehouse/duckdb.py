"""The embedded warehouse: one DuckDB file.

DuckDB lets one process write a file at a time, and Dagster runs each run, the daemon and the
webserver in their own processes. So a connection lives for one unit of work: ``connect()``
opens it (retrying while another process holds the lock), the caller does its work, and it is
closed. Nothing here keeps a connection between calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

_SOURCES_DDL = Path(__file__).with_name("duckdb_sources.sql")


@dataclass(frozen=True)
class DuckDBWarehouse:
    path: Path
    lock_timeout_s: float = 60.0

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._open_with_retry()
        try:
            yield connection
        finally:
            connection.close()

    def _open_with_retry(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        with self.connect() as connection:
            return pl.from_arrow(connection.sql(sql, params=params or None).to_arrow_table())

    def init_sources(self) -> None:
        """Creates the schemas and the empty reference-source tables (idempotent)."""
        with self.connect() as connection:
            connection.execute(_SOURCES_DDL.read_text(encoding="utf-8"))
