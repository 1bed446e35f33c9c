"""The bank's Oracle warehouse through python-oracledb in thin mode (no Oracle client needed).

Statements use named binds only (``:code``), never string formatting. A connection lives for
one unit of work, like the embedded warehouse's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import oracledb
import polars as pl
import pyarrow as pa


@dataclass(frozen=True)
class OracleWarehouse:
    dsn: str
    user: str
    password: str = field(repr=False)
    connect_fn: Callable[..., Any] = oracledb.connect

    @contextmanager
    def connect(self) -> Iterator[Any]:
        connection = self.connect_fn(user=self.user, password=self.password, dsn=self.dsn)
        try:
            yield connection
        finally:
            connection.close()

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        with self.connect() as connection:
            frame = connection.fetch_df_all(statement=sql, parameters=params or {})
            return pl.from_arrow(pa.table(frame))
