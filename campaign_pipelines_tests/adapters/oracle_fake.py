"""A recording stand-in for an Oracle database, because no Oracle server can run here.

It is strict where a real server would be: every statement must parse with sqlglot's Oracle
dialect, binds must be named (``:code``) and match the statement's placeholders exactly (python-
oracledb refuses extra names, Oracle refuses missing ones), and ``executemany`` batches go
through python-oracledb's own Arrow importer. Errors are built the way python-oracledb builds
them, so the driver itself decides the exception class and ``isrecoverable``.

sqlglot's Oracle dialect accepts more than Oracle (before 23ai) does, so named rules check
more on top (``STATEMENT_RULES``, ``TABLE_RULES``, ``ARROW_RULES``); a broken one raises
``OracleWouldRefuse`` naming the rule and the ORA error the database would give.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import oracledb
import pyarrow as pa
import sqlglot
from oracledb import errors as driver_errors
from sqlglot import exp
from sqlglot.tokens import TokenType

_POSITIONAL_BIND = re.compile(r"(?<![:\w]):\d+")


def ora_error(code: int, text: str) -> oracledb.Error:
    """``ora_error(1, "unique constraint (X.Y) violated")`` as the thin driver raises it."""
    details = driver_errors._Error(f"ORA-{code:05d}: {text}", code=code)
    return details.exc_type(details)


def connection_closed() -> oracledb.Error:
    """DPY-4011, what the thin driver raises when the network or the database drops us."""
    return driver_errors._create_exception(driver_errors.ERR_CONNECTION_CLOSED)


# Oracle's CREATE INDEX as the project writes it (adapters/warehouse/ddl.py index_ddl), which
# sqlglot cannot read: held to the grammar here instead (a schema-qualified name of at most 30
# characters, a table, upper-case columns, COMPRESS n).
CREATE_INDEX = re.compile(
    r"CREATE INDEX ([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]{0,29}) ON ([a-z_][a-z0-9_]*)\."
    r"[a-z_][a-z0-9_]* \([A-Z_][A-Z0-9_]*(, [A-Z_][A-Z0-9_]*)*\) COMPRESS [1-9]"
)


def placeholders(sql: str) -> list[str]:
    """The statement's bind names, after checking it is Oracle SQL with named binds only."""
    assert not _POSITIONAL_BIND.search(sql), f"positional bind in: {sql}"
    if sql.startswith("CREATE INDEX"):
        assert CREATE_INDEX.fullmatch(sql), f"not Oracle's CREATE INDEX: {sql}"
        return []
    tree = sqlglot.parse_one(sql, read="oracle")  # raises ParseError on anything else
    assert not isinstance(tree, exp.Command), f"sqlglot could not parse, only passed on: {sql}"
    check_statement(sql, tree)
    return [p.name.lower() for p in tree.find_all(exp.Placeholder)]


# --- what Oracle refuses and sqlglot's Oracle dialect lets through ---------------------------

# Oracle's reserved words (SQL Language Reference, "Oracle SQL Reserved Words"): none of them
# can name a bind variable (ORA-01745), though many make natural names (:date, :level, :uid).
RESERVED_WORDS = frozenset("""
ACCESS ADD ALL ALTER AND ANY AS ASC AUDIT BETWEEN BY CHAR CHECK CLUSTER COLUMN COLUMN_VALUE
COMMENT COMPRESS CONNECT CREATE CURRENT DATE DECIMAL DEFAULT DELETE DESC DISTINCT DROP ELSE
EXCLUSIVE EXISTS FILE FLOAT FOR FROM GRANT GROUP HAVING IDENTIFIED IMMEDIATE IN INCREMENT INDEX
INITIAL INSERT INTEGER INTERSECT INTO IS LEVEL LIKE LOCK LONG MAXEXTENTS MINUS MLSLABEL MODE
MODIFY NESTED_TABLE_ID NOAUDIT NOCOMPRESS NOT NOWAIT NULL NUMBER OF OFFLINE ON ONLINE OPTION OR
ORDER PCTFREE PRIOR PUBLIC RAW RENAME RESOURCE REVOKE ROW ROWID ROWNUM ROWS SELECT SESSION SET
SHARE SIZE SMALLINT START SUCCESSFUL SYNONYM SYSDATE TABLE THEN TO TRIGGER UID UNION UNIQUE
UPDATE USER VALIDATE VALUES VARCHAR VARCHAR2 VIEW WHENEVER WHERE WITH
""".split())
# Types sqlglot parses that Oracle before 23ai has no such type for (ORA-00902).
_FOREIGN_TYPES = {exp.DataType.Type.BOOLEAN, exp.DataType.Type.TEXT}
_VARCHAR2_MAX_BYTES = 4000  # MAX_STRING_SIZE = STANDARD, the default
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


class OracleWouldRefuse(AssertionError):
    """A statement or bound data that Oracle would refuse; names the rule and the ORA error."""

    def __init__(self, rule: str, ora: str, problem: str, fix: str):
        self.rule = rule
        super().__init__(f"Oracle would refuse ({ora}, rule {rule}): {problem}; {fix}")


def _if_not_exists(sql: str, tree: exp.Expression) -> None:
    if isinstance(tree, exp.Create) and tree.args.get("exists"):
        raise OracleWouldRefuse("if_not_exists", "ORA-00922", f"IF NOT EXISTS in: {sql}",
                                "create plainly and treat ORA-00955 as already there")


def _select_without_from(sql: str, tree: exp.Expression) -> None:
    for select in tree.find_all(exp.Select):
        if select.args.get("from_") is None:
            raise OracleWouldRefuse("select_without_from", "ORA-00923",
                                    f"SELECT without FROM: {select.sql('oracle')}",
                                    "select FROM DUAL")


def _limit_offset(sql: str, tree: exp.Expression) -> None:
    if tree.find(exp.Limit):
        raise OracleWouldRefuse("limit_offset", "ORA-00933", f"LIMIT in: {sql}",
                                "write FETCH FIRST n ROWS ONLY")
    if tree.find(exp.Offset) and not re.search(r"\bOFFSET\s+:?\w+\s+ROWS?\b", sql, re.I):
        raise OracleWouldRefuse("limit_offset", "ORA-00933", f"OFFSET without ROWS in: {sql}",
                                "write OFFSET n ROWS")


def _as_before_table_alias(sql: str, tree: exp.Expression) -> None:
    for alias in tree.find_all(exp.TableAlias):
        name = alias.this
        if isinstance(alias.parent, exp.CTE) or not isinstance(name, exp.Identifier):
            continue
        start = name.meta.get("start")
        if start is not None and re.search(r"\bAS\s*\"?$", sql[:start], re.I):
            raise OracleWouldRefuse("as_before_table_alias", "ORA-00933",
                                    f"AS before the table alias {name.name}: {sql}",
                                    f"write the alias alone (`... {name.name}`)")


def _foreign_types(sql: str, tree: exp.Expression) -> None:
    found = {t.this for t in tree.find_all(exp.DataType)} & _FOREIGN_TYPES
    # sqlglot reads CLOB as TEXT too, so TEXT is told apart by its spelling where a type goes.
    if exp.DataType.Type.TEXT in found and not _spelled_as_type(sql, "TEXT"):
        found.discard(exp.DataType.Type.TEXT)
    if found:
        names = ", ".join(sorted(t.name for t in found))
        raise OracleWouldRefuse("foreign_types", "ORA-00902", f"{names}: no such Oracle type "
                                f"(BOOLEAN arrived in 23ai) in: {sql}",
                                "use NUMBER(1) for a flag, VARCHAR2(n CHAR) or CLOB for text")


_BEFORE_A_TYPE = (TokenType.VAR, TokenType.IDENTIFIER, TokenType.ALIAS)


def _spelled_as_type(sql: str, word: str) -> bool:
    """``word`` written after a column name or after AS (a CAST), where a type goes."""
    tokens = sqlglot.tokenize(sql, read="oracle")
    return any(
        token.text.upper() == word and before.token_type in _BEFORE_A_TYPE
        for before, token in zip(tokens, tokens[1:], strict=False)
    )


def _bind_names(sql: str, tree: exp.Expression) -> None:
    for column in tree.find_all(exp.Identifier):
        if column.name.startswith("$") and not column.quoted:
            raise OracleWouldRefuse("bind_names", "ORA-00911", f"{column.name} in: {sql}",
                                    "bind by name with a colon (:code)")
    for placeholder in tree.find_all(exp.Placeholder):
        name = placeholder.name
        if not placeholder.this:  # sqlglot names a ? bind "?"
            raise OracleWouldRefuse("bind_names", "ORA-00911", f"a ? bind in: {sql}",
                                    "bind by name with a colon (:code)")
        if name.upper() in RESERVED_WORDS:
            raise OracleWouldRefuse("bind_names", "ORA-01745",
                                    f":{name} is a reserved word in: {sql}",
                                    f"rename the bind (:{name}_value)")


def _insert_values_count(sql: str, tree: exp.Expression) -> None:
    if not isinstance(tree, exp.Insert) or not isinstance(tree.this, exp.Schema):
        return
    columns = len(tree.this.expressions)
    source = tree.expression
    rows = source.expressions if isinstance(source, exp.Values) else []
    counts = [len(row.expressions) for row in rows]
    if isinstance(source, exp.Query):
        counts = [len(source.selects)]
    for count in counts:
        if count != columns:
            ora = "ORA-00947" if count < columns else "ORA-00913"
            raise OracleWouldRefuse("insert_values_count", ora,
                                    f"{columns} columns but {count} values in: {sql}",
                                    "give one value per listed column")


STATEMENT_RULES = (_if_not_exists, _select_without_from, _limit_offset, _as_before_table_alias,
                   _foreign_types, _bind_names, _insert_values_count)


def check_statement(sql: str, tree: exp.Expression) -> None:
    for rule in STATEMENT_RULES:
        rule(sql, tree)


@dataclass(frozen=True)
class Column:
    name: str
    type: exp.DataType.Type
    length: int | None  # text: declared length; NUMBER: precision
    in_chars: bool  # VARCHAR2(n CHAR): n counts characters, else bytes


Schema = dict[str, dict[str, Column]]  # "owner.table" -> column name -> Column, lower case


def project_schema() -> Schema:
    """The tables the project's Oracle DDL defines, as ``ddl`` writes them now."""
    from campaign_pipelines.adapters.warehouse.ddl import WAREHOUSE_TABLES, ddl

    return schema_from_ddl(*(ddl(table, "oracle") for table in WAREHOUSE_TABLES))


def schema_from_ddl(*statements: str) -> Schema:
    """The tables the CREATE TABLE statements among ``statements`` define."""
    schema: Schema = {}
    for statement in statements:
        for tree in sqlglot.parse(statement, read="oracle"):
            if isinstance(tree, exp.Create) and tree.kind == "TABLE":
                schema[_qualified(tree.find(exp.Table))] = {
                    c.name.lower(): _column(c) for c in tree.find_all(exp.ColumnDef)}
    return schema


def _column(definition: exp.ColumnDef) -> Column:
    data_type = definition.args["kind"]
    params = data_type.expressions
    length = int(params[0].this.name) if params else None
    unit = params[0].expression if params else None
    in_chars = unit is not None and unit.name.upper() == "CHAR"
    return Column(definition.name.lower(), data_type.this, length, in_chars)


def _qualified(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower() if table.db else table.name.lower()


def check_tables(sql: str, schema: Schema) -> None:
    """Rule ``undefined_table``: a write goes only to a table the project's DDL defines."""
    tree = _written(sql)
    if isinstance(tree, _WRITES) and (target := tree.find(exp.Table)) is not None:
        if _qualified(target) not in schema:
            raise OracleWouldRefuse("undefined_table", "ORA-00942",
                                    f"{_qualified(target)} is not in the project's DDL: {sql}",
                                    "define it in core.deployment (adapters/warehouse/ddl.py)")
        listed = tree.this.expressions if isinstance(tree.this, exp.Schema) else []
        unknown = [c.name for c in listed if c.name.lower() not in schema[_qualified(target)]]
        if unknown:
            raise OracleWouldRefuse("undefined_table", "ORA-00904",
                                    f"{_qualified(target)} has no column {', '.join(unknown)}: "
                                    f"{sql}", "insert only the columns its DDL declares")


def _written(sql: str) -> exp.Expression | None:
    """The statement's tree when it can write rows. ``placeholders`` has judged its syntax
    already (a test may teach it a statement sqlglot cannot parse, such as LOCK TABLE)."""
    if not re.match(r"\s*(INSERT|UPDATE|DELETE|MERGE)\b", sql, re.I):
        return None
    return sqlglot.parse_one(sql, read="oracle")


def check_arrow(sql: str, data: pa.Table, schema: Schema) -> None:
    """Rules ``arrow_type`` and ``text_length`` for an INSERT's bound Arrow columns, matched to
    the statement's columns through its binds (column i of the data binds to placeholder i)."""
    tree = _written(sql)
    if not isinstance(tree, exp.Insert) or not isinstance(tree.expression, exp.Values):
        return
    if not isinstance(tree.this, exp.Schema):
        raise OracleWouldRefuse("arrow_type", "ORA-00947", f"no column list in: {sql}",
                                "list the columns the Arrow data binds to")
    table = schema[_qualified(tree.this.find(exp.Table))]
    names = [c.name.lower() for c in tree.this.expressions]
    by_bind = {}
    for row in tree.expression.expressions:
        for name, value in zip(names, row.expressions, strict=True):
            if isinstance(value, exp.Placeholder):
                by_bind[value.name.lower()] = table[name]
    for field_, values in zip(data.schema, data.columns, strict=True):
        column = by_bind[field_.name.lower()]
        _check_arrow_type(sql, column, field_.type)
        if column.length and column.type in _TEXT_TYPES:
            _check_text_length(column, values)


_TEXT_TYPES = {exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.NVARCHAR,
               exp.DataType.Type.NCHAR}


def _arrow_fits(column: Column, arrow: pa.DataType) -> bool:
    kind = column.type
    if pa.types.is_null(arrow):
        return True
    if kind in _TEXT_TYPES:
        # large_string binds as LONG (python-oracledb's Arrow import), which Oracle inserts
        # only into a LONG or CLOB column (ORA-01461 once a value passes 4000 bytes).
        return pa.types.is_string(arrow)
    if kind == exp.DataType.Type.TEXT:  # CLOB, as sqlglot reads it
        return pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    if kind == exp.DataType.Type.DECIMAL:
        whole = column.length is not None  # NUMBER(p): an integer column
        return pa.types.is_integer(arrow) or (not whole and (pa.types.is_floating(arrow)
                                                             or pa.types.is_decimal(arrow)))
    if kind in (exp.DataType.Type.DATE, exp.DataType.Type.DATETIME,
                exp.DataType.Type.TIMESTAMP):
        return pa.types.is_date(arrow) or pa.types.is_timestamp(arrow)
    return False


def _check_arrow_type(sql: str, column: Column, arrow: pa.DataType) -> None:
    if not _arrow_fits(column, arrow):
        raise OracleWouldRefuse("arrow_type", "ORA-00932", f"column {column.name} "
                                f"({column.type.name}) cannot take Arrow {arrow}: {sql}",
                                "cast the frame's column to the declared type before binding")


def _check_text_length(column: Column, values: pa.ChunkedArray) -> None:
    limit = column.length or 0
    for row, value in enumerate(values.to_pylist()):
        if value is None:
            continue
        size = len(value.encode())
        over = (len(value) > limit or size > _VARCHAR2_MAX_BYTES) if column.in_chars else (
            size > limit)
        if over:
            unit = "CHAR" if column.in_chars else "BYTE"
            raise OracleWouldRefuse("text_length", "ORA-12899",
                                    f"row {row + 1} of column {column.name} has {len(value)} "
                                    f"characters, {size} bytes; declared {limit} {unit}",
                                    "bound the field at admission")


@dataclass
class _Failure:
    fragment: str
    error: Exception
    times: int
    after: int


@dataclass(frozen=True)
class Rows:
    """A query result too big to script as one table: ``make(start, stop)`` builds rows
    ``start``..``stop - 1`` when the driver fetches them, so only fetched batches exist."""

    count: int
    schema: pa.Schema
    make: Callable[[int, int], pa.Table]


@dataclass
class FakeOracle:
    """The database: a log shared by all connections, scripted results and scripted failures.

    ``log`` holds tuples: ("connect",), ("execute", sql, binds), ("executemany", sql, rows,
    batch_size), ("batch", rows) for each round trip the driver would make, ("fetch_df_batches",
    sql, size) then ("fetched", rows) for each batch fetched, ("commit",), ("rollback",),
    ("close",). ``max_rows_alive``: the most rows of fetched batches that were still referenced
    at once (each batch is watched until the caller lets it go).
    """

    log: list[tuple] = field(default_factory=list)
    # The project's Oracle DDL as it stands now, so a table added to it counts at once.
    schema: Schema = field(default_factory=project_schema)
    max_rows_alive: int = 0
    _rows_alive: int = 0
    _results: list[tuple[str, list[Any]]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)

    def connect(self, *, user: str, password: str, dsn: str) -> FakeConnection:
        self.log.append(("connect",))
        return FakeConnection(self)

    def returns(self, fragment: str, *results: Any) -> None:
        """Statements containing ``fragment`` answer ``results`` in turn, the last repeating: a
        list of row tuples (query), an int (DML row count), a pyarrow Table (fetch_df_all,
        fetch_df_batches) or ``Rows`` (fetch_df_batches)."""
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

    def batch_sizes(self) -> list[int]:
        """The ``size`` each ``fetch_df_batches`` call asked for."""
        return [entry[2] for entry in self.log if entry[0] == "fetch_df_batches"]

    def _watch(self, batch: Any, rows: int) -> Any:
        self._rows_alive += rows
        self.max_rows_alive = max(self.max_rows_alive, self._rows_alive)
        weakref.finalize(batch, self._let_go, rows)
        return batch

    def _let_go(self, rows: int) -> None:
        self._rows_alive -= rows

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

    def fetch_df_batches(
        self, statement: str, parameters: dict | None = None, size: int | None = None
    ) -> Iterator[Any]:
        """As python-oracledb 26.1: batches of ``size`` rows (default ``defaults.arraysize``),
        the first always yielded, so an empty result is one empty batch carrying the columns
        (a pyarrow Table: the driver's own from_arrow cannot import one without rows)."""
        self._check_open()
        _check_binds(statement, parameters or {})
        database = self.database
        size = oracledb.defaults.arraysize if size is None else size
        database.log.append(("execute", statement, dict(parameters or {})))
        database.log.append(("fetch_df_batches", statement, size))
        database._maybe_fail(statement)
        result = database._result(statement)
        assert isinstance(result, pa.Table | Rows), f"script a Table or Rows for: {statement}"
        if isinstance(result, pa.Table):
            table = result
            result = Rows(table.num_rows, table.schema,
                          lambda start, stop: table.slice(start, stop - start))
        return self._batches(result, size)

    def _batches(self, rows: Rows, size: int) -> Iterator[Any]:
        database = self.database
        if not rows.count:
            database.log.append(("fetched", 0))
            yield rows.schema.empty_table()
        for start in range(0, rows.count, size):
            self._check_open()
            batch = oracledb.from_arrow(rows.make(start, min(start + size, rows.count)))
            database.log.append(("fetched", batch.num_rows()))
            yield database._watch(batch, batch.num_rows())
            del batch  # as the driver: a fetched batch belongs to the caller alone

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
        check_tables(statement, self.database.schema)
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
        check_tables(statement, self.database.schema)
        check_arrow(statement, pa.table(parameters), self.database.schema)
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
