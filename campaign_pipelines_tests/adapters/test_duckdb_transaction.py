"""The DuckDB transaction helper and which DuckDB errors count as transient."""

import duckdb
import pytest

from campaign_pipelines.adapters.warehouse.duckdb import transaction
from campaign_pipelines.adapters.warehouse.errors import is_transient


@pytest.fixture
def two_connections(tmp_path):
    """Two connections to one file in one process: they share the database, as two
    concurrent transactions would."""
    path = str(tmp_path / "tx.duckdb")
    first, second = duckdb.connect(path), duckdb.connect(path)
    first.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
    first.execute("INSERT INTO t VALUES (1, 1)")
    yield first, second
    first.close()
    second.close()


def test_a_failed_commit_raises_its_own_error_and_keeps_nothing(two_connections):
    first, second = two_connections
    with pytest.raises(duckdb.TransactionException, match="duplicate key"):  # noqa: PT012
        with transaction(first):
            first.execute("INSERT INTO t VALUES (5, 1)")
            second.execute("INSERT INTO t VALUES (5, 2)")  # commits first, in autocommit
    assert first.execute("SELECT v FROM t WHERE k = 5").fetchall() == [(2,)]


def test_an_error_inside_rolls_back(two_connections):
    first, _ = two_connections
    with pytest.raises(ZeroDivisionError), transaction(first):
        first.execute("UPDATE t SET v = 9")
        raise ZeroDivisionError
    assert first.execute("SELECT v FROM t").fetchall() == [(1,)]


def test_write_conflict_is_transient_but_other_transaction_errors_are_not(two_connections):
    first, second = two_connections
    with transaction(first):
        first.execute("UPDATE t SET v = 2")
        second.execute("BEGIN TRANSACTION")
        with pytest.raises(duckdb.TransactionException) as conflict:
            second.execute("UPDATE t SET v = 3")
        second.execute("ROLLBACK")
    assert is_transient(conflict.value)
    with pytest.raises(duckdb.TransactionException) as no_transaction:
        second.execute("COMMIT")
    assert not is_transient(no_transaction.value)
