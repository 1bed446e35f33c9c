"""adapters/sequence_store.py on a real DuckDB file, without Dagster."""

from datetime import timedelta
from functools import partial

import polars as pl

from campaign_pipelines.adapters.sequence_store import (
    ENROLLMENTS,
    LEDGER,
    SIGNUPS,
    TRACKING,
    SequenceStore,
)
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.sequences.plan import due_now, enroll
from campaign_pipelines_tests.sequences.test_core import DEFINITIONS, T0, record, rows


def store(tmp_path) -> SequenceStore:
    return SequenceStore(DuckDBWarehouse(tmp_path / "w.duckdb"), tmp_path / "next_due.json")


def admit(s: SequenceStore, *lines: str):
    plan = partial(_plan, now=T0)
    return s.admit(rows(*lines), plan)


def _plan(new, pairs, now):
    return enroll(new, pairs, DEFINITIONS, "testing", now)


def test_admission_is_idempotent_and_duplicates_plan_nothing(tmp_path):
    s = store(tmp_path)
    first = admit(s, record("a@x.org", T0, red=2), record("b@x.org", T0))
    assert first.counts()["enrolled"] == 2
    again = admit(s, record("a@x.org", T0, red=2), record("A@x.org", T0 + timedelta(minutes=1)))
    assert again.counts() == {"signups": 1, "enrolled": 0, "duplicates": 1,
                              "enrolled_per_segment": {"CRITICAL": 0, "URGENT": 0,
                                                       "OPTIMIZE": 0}}
    assert s.table(SIGNUPS).height == 3 and s.table(ENROLLMENTS).height == 2
    assert s.table(LEDGER).height == 14 and s.table(TRACKING).height == 2
    assert s.next_due() == T0


def test_claim_record_and_tracking(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0))
    now = T0 + timedelta(minutes=2, seconds=1)
    claimed, _ = s.claim_due(now, due_now, limit=10)
    assert claimed["email_number"].to_list() == [1, 2, 3]
    again, _ = s.claim_due(now, due_now, limit=10)
    assert again.height == 0  # claimed rows are not claimed twice within the lease
    s.record_results(claimed.select(
        "idempotency_key", state=pl.lit("sent"), provider=pl.lit("outbox"),
        provider_message_id=pl.lit("m"), last_error=pl.lit(None, pl.String),
        sent_at=pl.lit(now)), now)
    tracking = s.table(TRACKING).row(0, named=True)
    assert tracking["email_3_sent_at"] == now and tracking["email_4_sent_at"] is None
    assert s.next_due() == T0 + timedelta(minutes=3)
    assert s.cancel("a@x.org", now) == 1
    assert s.table(LEDGER).filter(pl.col("state") == "suppressed").height == 4
    assert s.next_due() is None


def test_suppressed_addresses_are_closed_not_sent(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0), record("b@x.org", T0))
    added = s.suppress(pl.DataFrame({"address_key": ["b@x.org", "b@x.org"],
                                     "reason": ["unsubscribed"] * 2, "source": ["link"] * 2,
                                     "received_at": [T0, T0]}), T0)
    assert added == 1
    claimed, due = s.claim_due(T0 + timedelta(minutes=10), due_now, limit=100)
    assert set(claimed["address_key"]) == {"a@x.org"}
    closed = s.table(LEDGER, "b@x.org")
    assert set(closed["state"]) == {"suppressed"}
    assert set(closed["last_error"]) == {"address suppressed"}
