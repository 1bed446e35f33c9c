"""What a read-only reader of the DuckDB warehouse may meet that a writer never does: no file
(a writer creates it) and missing tables (a writer creates them, a reader cannot)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from campaign_pipelines.core.deployment import PROJECT_TABLES


class WarehouseMissingError(FileNotFoundError):
    """A reader found no warehouse file: nothing was ever written where it looks."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(
            f"there is no warehouse file {path}: nothing has been deployed under this data "
            "directory. Fix: set CAMPAIGN_DATA_DIR to the code location's, or run "
            "`campaigns db init` there"
        )


class IncompleteWarehouseError(RuntimeError):
    """A read-only reader found some of the project's tables but not all of them."""

    def __init__(self, path: Path, missing: list[str]):
        self.path, self.missing = path, missing
        super().__init__(
            f"the warehouse {path} lacks {', '.join(missing)}: it was made by an older "
            "version. Fix: run `campaigns db init` (it adds what is missing)"
        )


def present_tables(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables and views (``schema.name``) of the connection's current database: an engine
    the file is ATTACHed to lists the other attached databases' too."""
    return {
        f"{schema}.{name}"
        for schema, name in connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database()"
        ).fetchall()
    }


def project_tables_absent(connection: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether the file holds none of the project's tables; IncompleteWarehouseError when it
    holds only some."""
    present = present_tables(connection)
    missing = [table.qualified for table in PROJECT_TABLES if table.qualified not in present]
    if missing and len(missing) < len(PROJECT_TABLES):
        raise IncompleteWarehouseError(path, missing)
    return bool(missing)
