"""The SMS runner's units of work on the ledger (mixed into adapters/sms_store.SmsStore,
whose docstring states the contract): claim and record a batch (``step``), write the
counters between two records (``progress``), record the run's last batch and take its
lifecycle step (``finish``), and the claims of dead runners (``adopt``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from campaign_pipelines.adapters import sms_store_sql as sql
from campaign_pipelines.adapters.sms_store_sql import RESULT_SCHEMA
from campaign_pipelines.adapters.warehouse.duckdb import transaction
from campaign_pipelines.core.sms import lifecycle
from campaign_pipelines.core.sms.ledger import Counters, all_final, with_unrecorded
from campaign_pipelines.core.sms.lifecycle import Command, Status

if TYPE_CHECKING:
    from campaign_pipelines.adapters.warehouse.duckdb_attached import Attached

LEASE = timedelta(minutes=10)  # a claim older than this is another runner's to adopt


@dataclass(frozen=True)
class Step:
    status: Status
    end_at: datetime | None
    rows: pl.DataFrame  # claimed: idempotency_key, phone_e164, first_name
    suppressed: int  # rows closed at the claim because their number is suppressed


@dataclass(frozen=True)
class Finish:
    status: Status
    states: dict[str, int]
    counters: Counters


def no_results() -> pl.DataFrame:
    return pl.DataFrame(schema=RESULT_SCHEMA)


class SendingUnits:
    """SmsStore's runner half; the store supplies the connection and the markers."""

    if TYPE_CHECKING:
        def _connect(self, *, checkpoint: bool = True) -> Attached: ...

        def _mark_status(self, name: str, status: Status) -> None: ...

        def _stamp_suppressions(self) -> None: ...

    def step(self, name: str, results: pl.DataFrame, *, claimer: str, claim: int,
             now: datetime, write_counters: bool = False) -> Step:
        """Records ``results`` (RESULT_SCHEMA), then claims up to ``claim`` queued rows for
        ``claimer`` if the campaign is Active and has not ended: one transaction."""
        with self._connect() as connection:
            with transaction(connection):
                opted_out = sql.record_results(connection, results, claimer, now)
                status, end_at, _ = sql.status_of(connection, name)
                rows, suppressed = pl.DataFrame(), 0
                if claim > 0 and lifecycle.may_send(status) and not lifecycle.has_ended(
                        end_at, now):
                    rows, suppressed = sql.claim_rows(connection, name, claimer, claim, now)
                if write_counters:
                    sql.write_counters(connection, name, None)
            self._mark_status(name, status)  # heals a marker a failed write left stale
            if opted_out:
                self._stamp_suppressions()
        return Step(status, end_at, rows, suppressed)

    def progress(self, name: str, unrecorded: Mapping[str, int], opted_out: pl.DataFrame, *,
                 now: datetime) -> Counters:
        """The counters while a runner holds outcomes it has not recorded (``unrecorded``:
        rows per outcome state, each row claimed by it and ``sending`` in the ledger): the
        ledger's states with those rows in their outcome's state (core
        ledger.with_unrecorded). ``opted_out`` (RESULT_SCHEMA rows the provider refused with
        21610) are suppressed now, not at the record, so no other campaign texts them
        meanwhile. No checkpoint (warehouse/duckdb_attached.py), and no transaction around the
        statements: while the unit holds the file no other writer can change what they read,
        and each write is a fact of its own. With two runners on one campaign each counts its own
        unrecorded outcomes only: the other's (at most a batch) show at its next record."""
        with self._connect(checkpoint=False) as connection:
            states = with_unrecorded(sql.ledger_states(connection, name), unrecorded)
            suppressed = sql.suppress_opted_out(connection, opted_out, now)
            written = sql.write_counters(connection, name, None, states)
            if suppressed:
                self._stamp_suppressions()
        return written

    def finish(self, name: str, results: pl.DataFrame, *, claimer: str, now: datetime
               ) -> Finish:
        """The run's last record, then the runner's lifecycle step (core runner_command:
        end a campaign whose end_at passed, complete an Active one whose rows are all
        final), the counters, last_run_at and last_run_result: one transaction."""
        with self._connect() as connection:
            with transaction(connection):
                opted_out = sql.record_results(connection, results, claimer, now)
                status, end_at, start_at = sql.status_of(connection, name)
                states = sql.ledger_states(connection, name)
                command = lifecycle.runner_command(
                    status, start_at, end_at, now,
                    all_rows_final=all_final(states))
                if command in (Command.END, Command.COMPLETE):
                    status = lifecycle.transition(status, command, name)
                    connection.execute(sql.SET_STATUS, {"status": status.value, "now": now,
                                                        "name": name, "stamp": "completed_at"})
                    if command == Command.END:
                        connection.execute(sql.EXPIRE, {"name": name, "now": now})
                        states = sql.ledger_states(connection, name)
                written = sql.write_counters(connection, name, now, states)
            self._mark_status(name, status)
            if opted_out:
                self._stamp_suppressions()
        return Finish(status, states, written)

    def adopt(self, name: str, stale: Callable[[pl.DataFrame], pl.DataFrame], *,
              claimer: str, now: datetime) -> pl.DataFrame:
        """The ``sending`` rows ``stale`` picks (their runner is dead or their lease ran out)
        taken over by ``claimer``, with their old ``claimed_at``: one transaction, so of two
        runners adopting at once each row goes to one."""
        with self._connect() as connection, transaction(connection):
            picked = stale(sql.frame(connection.sql(sql.SENDING, params={"name": name})))
            if picked.height == 0:
                return picked
            connection.register("_rows", picked.to_arrow())
            taken = connection.execute(
                f"UPDATE {sql.LEDGER} SET claimed_by = $claimer, claimed_at = $now "  # noqa: S608
                f"FROM _rows r WHERE {sql.LEDGER}.idempotency_key = r.idempotency_key "
                f"AND {sql.LEDGER}.claimed_by = r.claimed_by AND {sql.LEDGER}.state = 'sending' "
                f"RETURNING {sql.LEDGER}.idempotency_key",
                {"claimer": claimer, "now": now}).fetchall()
        keys = [key for (key,) in taken]
        return picked.filter(pl.col("idempotency_key").is_in(keys))

    def queued(self, name: str, cap: int) -> pl.DataFrame:
        """Up to ``cap`` queued rows in claim order, with their suppression (dry runs)."""
        with self._connect() as connection:
            return sql.frame(connection.sql(sql.CANDIDATES, params={"name": name, "n": cap}))
