"""The DuckDB transaction helper, which DuckDB errors count as transient, and code allocation
that needs no retry."""

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


def test_a_constraint_violation_is_a_real_error(two_connections):
    first, _ = two_connections
    with pytest.raises(duckdb.ConstraintException) as raised:
        first.execute("INSERT INTO t VALUES (1, 9)")
    assert not is_transient(raised.value)


def test_threads_of_one_process_allocate_distinct_codes_without_retrying(tmp_path, monkeypatch):
    """The process lock serialises allocations: eight threads at once, eight codes, and each
    allocation ran exactly once (no retry loop is left to hide a race)."""
    from concurrent.futures import ThreadPoolExecutor

    from campaign_pipelines.adapters.warehouse import statements
    from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
    from campaign_pipelines.core.requests import parse_request
    from campaign_pipelines_tests.bank import request_text

    deployment = DuckDBDeployment(DuckDBWarehouse(tmp_path / "codes.duckdb"))
    request = parse_request(request_text())
    deployment.preview_codes("RB1")  # creates the tables once, outside the race
    calls: list[str] = []
    allocate = statements.allocate_codes

    def counted(run, key, request, now):
        calls.append(key)
        return allocate(run, key, request, now)

    monkeypatch.setattr(statements, "allocate_codes", counted)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: deployment.allocate_codes(f"c{i}", request), range(8)))
    assert len({c.campaign_code for c in codes}) == 8
    assert sorted(calls) == [f"c{i}" for i in range(8)]
