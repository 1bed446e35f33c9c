"""The store's attached units of work (adapters/warehouse/duckdb_attached.py) against real DuckDB
files and real processes, and the run journal (adapters/sms_journal.py) as a killed run
leaves it."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from campaign_pipelines.adapters.sms_journal import Journal, journal_path, read_journal
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.sms_store_sql import DDL, RESULT_SCHEMA, TABLES
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse, WarehouseLockedError
from campaign_pipelines.adapters.warehouse.duckdb_attached import Attached
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines_tests.sms.adapters.fakes import T0, create, phone, start, store_at

NAME = "dec-cashback"
_OPEN = "import duckdb, sys; duckdb.connect(sys.argv[1]).close(); print('opened')"
_HOLD = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('holding', "
         "flush=True); time.sleep(30)")


def test_the_file_is_free_for_another_process_between_units(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 30)
    with pytest.raises(ProblemsError, match="no SMS campaign 'nope'"):
        store.status("nope")  # a unit that fails lets go of the file too
    with pytest.raises(RuntimeError, match="inside another one"), \
            Attached(store.warehouse, DDL, TABLES):
        store.states(NAME)
    opened = subprocess.run([sys.executable, "-c", _OPEN, str(tmp_path / "w.duckdb")],
                            capture_output=True, text=True, timeout=60)
    assert opened.stdout.strip() == "opened", opened.stderr
    assert store.states(NAME) == {"queued": 30}  # and this process opens it again


def test_a_unit_waits_for_another_process_then_says_who_holds_the_file(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    create(store_at(database), NAME)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(database)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        waiting = SmsStore(DuckDBWarehouse(database, lock_timeout_s=0.3))
        with pytest.raises(WarehouseLockedError, match="locked by"):
            waiting.status(NAME)
    finally:
        holder.kill()
        holder.wait()
    assert waiting.status(NAME) == "Scheduled"  # the engine is usable after the refusal


def test_the_counters_count_unrecorded_outcomes_without_touching_the_ledger(
        tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 10)
    step = store.step(NAME, pl.DataFrame(schema=RESULT_SCHEMA), claimer="me", claim=10, now=T0)
    outcomes = pl.DataFrame([{"idempotency_key": row["idempotency_key"],
                              "phone_e164": row["phone_e164"], "state": state,
                              "provider_message_id": None, "last_error": None, "sent_at": None,
                              "suppress_reason": "provider_21610" if state == "suppressed"
                              else None}
                             for row, state in zip(step.rows.to_dicts()[:3],
                                                   ["sent", "sent", "suppressed"], strict=True)],
                            schema=RESULT_SCHEMA)
    written = store.progress(NAME, {"sent": 2, "suppressed": 1},
                             outcomes.filter(pl.col("suppress_reason").is_not_null()), now=T0)
    assert (written.sent, written.total) == (2, 10)
    assert store.states(NAME) == {"sending": 10}  # the ledger waits for the batch's record
    assert store.suppression(phone(2))["reason"] == "provider_21610"  # but not the opt-out


def test_a_killed_runs_journal_reads_back_without_its_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path, NAME, "host/123/abc")
    journal.trying(["k1", "k2", "k3"])
    journal.outcome({"idempotency_key": "k1", "phone_e164": phone(1), "state": "sent",
                     "provider_message_id": "SM1", "last_error": None, "sent_at": T0,
                     "suppress_reason": None})
    path = journal_path(tmp_path, NAME, "host/123/abc")
    assert path.name == "host_123_abc.jsonl" and oct(path.stat().st_mode)[-3:] == "600"
    with path.open("ab") as file:
        file.write(b'{"k": "k2", "state": "se')  # the kill landed mid-line
    found = read_journal(tmp_path, NAME, "host/123/abc")
    assert found.exists and found.tried == {"k1", "k2", "k3"}
    assert list(found.outcomes) == ["k1"] and found.outcomes["k1"]["sent_at"] == T0
    assert not read_journal(tmp_path, NAME, "host/999/other").exists
    journal.close(keep=False)
    assert not path.exists()


def test_a_forked_child_builds_an_engine_of_its_own(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 5)
    assert store.states(NAME) == {"queued": 5}  # this process's engine exists

    def read_in_child() -> None:  # pragma: no cover - the child's exit code says it all
        assert store.states(NAME) == {"queued": 5}

    child = multiprocessing.get_context("fork").Process(target=read_in_child)
    child.start()
    try:
        child.join(30)  # a child stuck on the parent's engine would hang here, not forever
    finally:
        if child.exitcode is None:
            child.kill()
            child.join()
    assert child.exitcode == 0
    assert store.states(NAME) == {"queued": 5}
