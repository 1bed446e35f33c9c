"""A recording stand-in for an Oracle database, because no Oracle server can run here.

It is strict where a real server would be: every statement must parse with sqlglot's Oracle
dialect, binds must be named (``:code``) and match the statement's placeholders exactly (python-
oracledb refuses extra names, Oracle refuses missing ones), and ``executemany`` batches go
through python-oracledb's own Arrow importer. Errors are built the way python-oracledb builds
them, so the driver itself decides the exception class and ``isrecoverable``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import oracledb
import pyarrow as pa
import sqlglot
from oracledb import errors as driver_errors
from sqlglot import exp

_POSITIONAL_BIND = re.compile(r"(?<![:\w]):\d+")


def ora_error(code: int, text: str) -> oracledb.Error:
    """``ora_error(1, "unique constraint (X.Y) violated")`` as the thin driver raises it."""
    details = driver_errors._Error(f"ORA-{code:05d}: {text}", code=code)
    return details.exc_type(details)


def connection_closed() -> oracledb.Error:
    """DPY-4011, what the thin driver raises when the network or the database drops us."""
    return driver_errors._create_exception(driver_errors.ERR_CONNECTION_CLOSED)


def placeholders(sql: str) -> list[str]:
    """The statement's bind names, after checking it is Oracle SQL with named binds only."""
    assert not _POSITIONAL_BIND.search(sql), f"positional bind in: {sql}"
    tree = sqlglot.parse_one(sql, read="oracle")  # raises ParseError on anything else
    assert not isinstance(tree, exp.Command), f"sqlglot could not parse, only passed on: {sql}"
    return [p.name.lower() for p in tree.find_all(exp.Placeholder)]


@dataclass
class _Failure:
    fragment: str
    error: Exception
    times: int
    after: int


@dataclass
class FakeOracle:
    """The database: a log shared by all connections, scripted results and scripted failures.

    ``log`` holds tuples: ("connect",), ("execute", sql, binds), ("executemany", sql, rows,
    batch_size), ("batch", rows) for each round trip the driver would make, ("commit",),
    ("rollback",), ("close",).
    """

    log: list[tuple] = field(default_factory=list)
    _results: list[tuple[str, list[Any]]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)

    def connect(self, *, user: str, password: str, dsn: str) -> FakeConnection:
        self.log.append(("connect",))
        return FakeConnection(self)

    def returns(self, fragment: str, *results: Any) -> None:
        """Statements containing ``fragment`` answer ``results`` in turn, the last repeating: a
        list of row tuples (query), an int (DML row count) or a pyarrow Table (fetch_df_all)."""
        self._results.append((fragment, list(results)))

    def fails(self, fragment: str, error: Exception, times: int = 1, after: int = 0):
        """Statements containing ``fragment`` raise ``error`` ``times`` times, once ``after``
        of them have succeeded (``after=1``: the second insert batch fails)."""
        self._failures.append(_Failure(fragment, error, times, after))

    def statements(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] in ("execute", "executemany")]

    def events(self) -> list[str]:
        """The log without statement text: ["connect", "execute", "commit", "close", ...]."""
        return [entry[0] for entry in self.log]

    def executed(self, fragment: str) -> list[tuple]:
        return [e for e in self.log if e[0].startswith("execute") and fragment in e[1]]

    def _result(self, sql: str) -> Any:
        for fragment, results in self._results:
            if fragment in sql:
                return results.pop(0) if len(results) > 1 else results[0]
        return None

    def _maybe_fail(self, sql: str) -> None:
        for failure in self._failures:
            if not failure.times or failure.fragment not in sql:
                continue
            if failure.after:
                failure.after -= 1
                continue
            failure.times -= 1
            raise failure.error


class FakeConnection:
    def __init__(self, database: FakeOracle):
        self.database = database
        self.closed = False

    def cursor(self) -> FakeCursor:
        self._check_open()
        return FakeCursor(self)

    def fetch_df_all(self, statement: str, parameters: dict | None = None) -> Any:
        self._check_open()
        _check_binds(statement, parameters or {})
        self.database.log.append(("execute", statement, dict(parameters or {})))
        self.database._maybe_fail(statement)
        table = self.database._result(statement)
        assert isinstance(table, pa.Table), f"script a pyarrow Table for: {statement}"
        # python-oracledb 26.1's from_arrow cannot import a table without rows (IndexError), so
        # an empty result travels as the pyarrow Table, which speaks the same Arrow interface.
        return oracledb.from_arrow(table) if table.num_rows else table

    def commit(self) -> None:
        self._check_open()
        self.database.log.append(("commit",))

    def rollback(self) -> None:
        self._check_open()
        self.database.log.append(("rollback",))

    def close(self) -> None:
        self.closed = True
        self.database.log.append(("close",))

    def _check_open(self) -> None:
        if self.closed:
            raise driver_errors._create_exception(driver_errors.ERR_NOT_CONNECTED)


class FakeCursor:
    def __init__(self, connection: FakeConnection):
        self.connection = connection
        self.database = connection.database
        self.description: list[tuple] | None = None
        self.rowcount = 0
        self._rows: list[tuple] = []

    def execute(self, statement: str, parameters: dict | None = None) -> None:
        self.connection._check_open()
        _check_binds(statement, parameters or {})
        self.database.log.append(("execute", statement, dict(parameters or {})))
        self.database._maybe_fail(statement)
        result = self.database._result(statement)
        is_query = statement.lstrip().upper().startswith("SELECT")
        self.description = [("COLUMN",)] if is_query else None
        self._rows = result if is_query and result else []
        self.rowcount = result if isinstance(result, int) else len(self._rows)

    def executemany(self, statement: str, parameters: Any, *, batch_size: int = 2**32 - 1):
        self.connection._check_open()
        names = placeholders(statement)
        frame = oracledb.from_arrow(parameters)  # the driver's own Arrow import
        columns = [name.lower() for name in frame.column_names()]
        assert columns == names, f"columns {columns} do not bind in order to {names}"
        rows = frame.num_rows()
        self.database.log.append(("executemany", statement, rows, batch_size))
        self.database._maybe_fail(statement)
        for start in range(0, rows, batch_size):
            self.database.log.append(("batch", min(batch_size, rows - start)))
        self.rowcount = rows

    def fetchall(self) -> list[tuple]:
        if self.description is None:
            raise driver_errors._create_exception(driver_errors.ERR_NOT_A_QUERY)
        rows, self._rows = self._rows, []
        return rows


def _check_binds(sql: str, binds: dict[str, Any]) -> None:
    names = set(placeholders(sql))
    given = {name.lower() for name in binds}
    assert given == names, f"binds {sorted(given)} do not match placeholders {sorted(names)}"
