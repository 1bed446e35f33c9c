"""Units of work on a DuckDB file through the process's engine (adapters/warehouse/duckdb_engine):
shared while they overlap, the file let go when the last one ends, whatever ended it."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.duckdb_engine import AttachedInAnotherModeError


def _let_go(path: Path) -> bool:
    """Whether nothing in this process holds the file: DuckDB refuses a second handle on a file
    one of the process's databases still has attached."""
    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error as error:
        assert "Unique file handle conflict" in str(error), error
        return False
    return True


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as connection:
        connection.execute("CREATE TABLE numbers AS SELECT range AS n FROM range(10)")
    return warehouse


def test_a_unit_holds_the_file_and_lets_go_when_it_ends(warehouse):
    with warehouse.connect() as connection:
        assert connection.execute("SELECT count(*) FROM numbers").fetchone() == (10,)
        assert not _let_go(warehouse.path)
    assert _let_go(warehouse.path)


def test_a_unit_inside_another_shares_the_file_and_the_outer_one_keeps_it(warehouse):
    with warehouse.connect() as outer:
        with warehouse.connect() as inner:
            inner.execute("INSERT INTO numbers VALUES (10)")
        assert outer.execute("SELECT count(*) FROM numbers").fetchone() == (11,)
        assert not _let_go(warehouse.path)
    assert _let_go(warehouse.path)


def test_units_of_two_threads_overlap_on_one_file(warehouse):
    inside, done = threading.Event(), threading.Event()
    seen: list[int] = []

    def reader() -> None:
        with warehouse.connect() as connection:
            inside.set()
            done.wait(10)
            seen.append(connection.execute("SELECT count(*) FROM numbers").fetchone()[0])

    thread = threading.Thread(target=reader)
    thread.start()
    assert inside.wait(10)
    with warehouse.connect() as connection:  # joins the reader's attachment, waits for nothing
        connection.execute("INSERT INTO numbers VALUES (10)")
    assert not _let_go(warehouse.path)  # the reader's unit still holds it
    done.set()
    thread.join(10)
    assert seen == [11]
    assert _let_go(warehouse.path)


def test_a_failed_unit_lets_go_of_the_file(warehouse):
    with pytest.raises(duckdb.CatalogException), warehouse.connect() as connection:
        connection.execute("SELECT * FROM no_such_table")
    assert _let_go(warehouse.path)


def test_a_failed_extract_lets_go_of_the_file_while_its_error_is_still_held(warehouse, tmp_path):
    """The extract's reader is closed before the file is detached: a reader left open in the
    kept traceback held the file attached, and locked, until it was collected."""

    def refuse(batch):
        raise ValueError("not this batch")

    with pytest.raises(ValueError) as raised:
        warehouse.extract("SELECT n FROM numbers", tmp_path / "out.parquet", transform=refuse)
    held = raised.value.__traceback__  # the error's frames, kept alive while the file is tried
    assert _let_go(warehouse.path)
    del held
    with warehouse.connect() as connection:
        assert connection.execute("SELECT count(*) FROM numbers").fetchone() == (10,)


def test_the_file_open_read_only_is_refused_read_write_in_the_same_process(warehouse):
    reader = DuckDBWarehouse(warehouse.path, read_only=True)
    with reader.connect() as connection:
        assert connection.execute("SELECT count(*) FROM numbers").fetchone() == (10,)
        with pytest.raises(AttachedInAnotherModeError, match="open read-only in this process"):
            with warehouse.connect():
                pass
    with warehouse.connect() as connection:  # once the reader is done, a writer gets it
        connection.execute("INSERT INTO numbers VALUES (10)")


def test_each_unit_has_its_own_transaction(warehouse):
    with warehouse.connect() as first, warehouse.connect() as second:
        first.execute("BEGIN TRANSACTION")
        first.execute("INSERT INTO numbers VALUES (10)")
        assert second.execute("SELECT count(*) FROM numbers").fetchone() == (10,)
        first.execute("ROLLBACK")
    with warehouse.connect() as connection:
        assert connection.execute("SELECT count(*) FROM numbers").fetchone() == (10,)


def test_a_forked_child_builds_its_own_engine_and_the_parent_keeps_working(warehouse):
    """The parent's engine (with its threads) stays the parent's; the child's units attach the
    file to an engine of the child's."""
    import multiprocessing

    with warehouse.connect() as connection:  # the parent's engine exists before the fork
        assert connection.execute("SELECT count(*) FROM numbers").fetchone() == (10,)

    def insert_in_child() -> None:
        with warehouse.connect() as child:
            child.execute("INSERT INTO numbers VALUES (10)")

    child = multiprocessing.get_context("fork").Process(target=insert_in_child)
    child.start()
    child.join(30)
    if child.is_alive():  # stuck on the parent's engine: fail, and leave nothing running
        child.kill()
        child.join()
    assert child.exitcode == 0
    with warehouse.connect() as connection:
        assert connection.execute("SELECT count(*) FROM numbers").fetchone() == (11,)
