"""SMS campaign state in the DuckDB warehouse (``campaign_ops``; SQL in sms_store_sql.py):

- ``sms_campaigns``: one row per campaign: its file's fields and version, status
  (core/sms/lifecycle.py), the status's timestamps, the last run and the counters;
- ``sms_ledger``: one row per campaign × E.164 number (core/sms/ledger.py's key and states),
  with who claimed it (``claimed_by``: host/pid/run) and when;
- ``sms_suppressions``: numbers no campaign texts (reason ``stop_reply``, ``provider_21610``
  or ``manual``);
- ``sms_events``: append-only receipts and inbound messages, each with its outcome
  (``applied``, ``unchanged``, ``unknown_message``, ``reply``, ``opt_out``, ``opt_in``).

Each method is one unit of work on a connection of its own, and every change is one
transaction of set operations over Arrow batches: nothing here holds a connection across a
send (DESIGN §3). ``step`` is the runner's one call per group of messages: it records the
last group's outcomes, reads the campaign's status and, only while it is Active, claims the
next group (``queued`` → ``sending``) in the same transaction, so a pause or cancel committed
before it is seen before anything more is claimed, and two runners never claim one row.
Numbers suppressed by then become ``suppressed`` at the claim: the send-time check.

A receipt for a message id the ledger does not know is kept (``unknown_message``) and
reported; if the runner records that id later (the receipt overtook the record), the
receipt is applied then.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from campaign_pipelines.adapters import sms_store_sql as sql
from campaign_pipelines.adapters.atomic_write import write_bytes_atomic
from campaign_pipelines.adapters.sms_store_events import decide_inbound, decide_receipts
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse, transaction
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms import lifecycle
from campaign_pipelines.core.sms.campaign import CampaignFile
from campaign_pipelines.core.sms.ledger import Counters, counters, run_result
from campaign_pipelines.core.sms.lifecycle import Command, Status

SUPPRESSION_REASONS = ("stop_reply", "provider_21610", "manual")
RESULT_SCHEMA = pl.Schema({
    "idempotency_key": pl.String, "phone_e164": pl.String, "state": pl.String,
    "provider_message_id": pl.String, "last_error": pl.String,
    "sent_at": pl.Datetime("us", "UTC"), "suppress_reason": pl.String})
EVENT_SCHEMA = pl.Schema({
    "event_id": pl.String, "kind": pl.String, "provider_message_id": pl.String,
    "phone_e164": pl.String, "body": pl.String, "status": pl.String,
    "received_at": pl.Datetime("us", "UTC"), "source_file": pl.String})
_STAMPS = {Command.START: "activated_at", Command.PAUSE: "paused_at",
           Command.COMPLETE: "completed_at", Command.END: "completed_at",
           Command.CANCEL: "cancelled_at"}


@dataclass(frozen=True)
class Queued:
    queued: int  # rows added now
    already: int  # rows the ledger had (a rerun adds nothing)


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


@dataclass(frozen=True)
class SmsStore:
    """``markers``: the folder of the status and suppression markers (default
    ``sms_markers`` beside the warehouse file)."""

    warehouse: DuckDBWarehouse
    markers: Path | None = None

    @property
    def marker_folder(self) -> Path:
        return self.markers or self.warehouse.path.parent / "sms_markers"

    def ensure_tables(self) -> None:
        with self._connect():
            pass

    # -- markers: what the runner reads between claims without opening the warehouse -------
    def status_marker(self, name: str) -> Status | None:
        """The campaign's status as last written beside the warehouse (None: no marker)."""
        try:
            return Status((self.marker_folder / f"{name}.status").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def stop_request(self, name: str) -> Command | None:
        """A pause or cancel under way in another process (``apply_command``)."""
        try:
            return Command((self.marker_folder / f"{name}.request").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def suppressions_stamp(self) -> str | None:
        """Changes whenever a number is suppressed or a suppression lifted."""
        try:
            return (self.marker_folder / "suppressions.stamp").read_text()
        except FileNotFoundError:
            return None

    def suppressed_among(self, phones: list[str]) -> dict[str, str]:
        """Of ``phones``, those suppressed now, with their reason."""
        rows = pl.DataFrame({"phone_e164": phones}, schema={"phone_e164": pl.String})
        with self._connect() as connection:
            found = _frame_with(connection, rows, sql.SUPPRESSED_AMONG,
                                schema={"phone_e164": pl.String, "reason": pl.String})
        return dict(found.iter_rows())

    def _mark_status(self, name: str, status: Status) -> None:
        # Written while the connection (so the file lock) is held: markers of two processes
        # land in their commits' order.
        if self.status_marker(name) != status:
            self.marker_folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.marker_folder / f"{name}.status", status.value.encode(),
                               mode=0o644)

    def _stamp_suppressions(self) -> None:
        self.marker_folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.marker_folder / "suppressions.stamp",
                           uuid.uuid4().hex.encode(), mode=0o644)

    # -- campaigns -------------------------------------------------------------------------
    def put_campaign(self, parsed: CampaignFile, now: datetime) -> str:
        """``created``, ``unchanged`` (same version) or ``replaced`` (a Scheduled campaign);
        ProblemsError for a different version of a campaign that has started."""
        c = parsed.campaign
        kind = "campaign_code" if c.prospects.campaign_code else "upload"
        row = pl.DataFrame([{
            "name": c.name, "version": parsed.version, "template": c.template,
            "sender": c.sender, "start_at": c.start_at, "end_at": c.end_at,
            "throttle_per_second": c.throttle_per_second, "prospects_kind": kind,
            "prospects_value": c.prospects.campaign_code or c.prospects.upload}],
            schema_overrides={"end_at": pl.Datetime("us", "UTC"),
                              "throttle_per_second": pl.Float64})
        with self._connect() as connection, transaction(connection):
            old = _rows(connection, sql.CAMPAIGN, {"name": c.name})
            if not old:
                _with_rows(connection, row, sql.INSERT_CAMPAIGN, {"now": now})
                return "created"
            if old[0]["version"] == parsed.version:
                return "unchanged"
            if old[0]["status"] != Status.SCHEDULED:
                raise ProblemsError([{
                    "field": "name", "problem": f"campaign {c.name!r} is "
                    f"{old[0]['status']}: only a Scheduled campaign can be replaced",
                    "fix": "give the new campaign another name"}])
            _with_rows(connection, row, sql.REPLACE_CAMPAIGN, {"now": now})
            return "replaced"

    def campaign(self, name: str) -> dict[str, Any] | None:
        with self._connect() as connection:
            found = _rows(connection, sql.CAMPAIGN, {"name": name})
        return found[0] if found else None

    def campaigns(self) -> pl.DataFrame:
        with self._connect() as connection:
            return _frame(connection.sql(sql.ALL_CAMPAIGNS))

    def status(self, name: str) -> Status:
        """The campaign's status now (the runner's pause check between groups is ``step``)."""
        with self._connect() as connection:
            return _status(connection, name)[0]

    def apply_command(self, name: str, command: Command | str, now: datetime
                      ) -> tuple[Status, Status]:
        """(before, after); TransitionError when the status does not allow the command.
        ``end`` also expires the campaign's queued rows, in the same transaction.

        A pause or cancel is announced first (``stop_request``, a marker file): a runner
        sending fast reopens the warehouse every few milliseconds, and this process could
        wait long for the file lock; the runner stops at its next check instead, which
        frees the file. The announcement is removed once the command is decided."""
        command = Command(command)
        request = self.marker_folder / f"{name}.request"
        if command in (Command.PAUSE, Command.CANCEL):
            self.marker_folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(request, command.value.encode(), mode=0o644)
        try:
            with self._connect() as connection:
                with transaction(connection):
                    before, *_ = _status(connection, name)
                    after = lifecycle.transition(before, command, name)
                    if after != before:
                        connection.execute(sql.SET_STATUS, {
                            "status": after.value, "now": now, "name": name,
                            "stamp": _STAMPS.get(command)})
                    if command == Command.END:
                        connection.execute(sql.EXPIRE, {"name": name, "now": now})
                self._mark_status(name, after)
        finally:
            if command in (Command.PAUSE, Command.CANCEL):
                request.unlink(missing_ok=True)
        return before, after

    def start(self, name: str, prospects: pl.DataFrame, now: datetime, *, invalid: int = 0,
              duplicate: int = 0) -> Queued:
        """Scheduled → Active and every prospect (phone_e164, first_name, idempotency_key)
        queued once, in one transaction; the invalid and duplicate numbers counted."""
        with self._connect() as connection:
            with transaction(connection):
                before, *_ = _status(connection, name)
                lifecycle.transition(before, Command.START, name)
                connection.execute(sql.SET_STATUS, {"status": Status.ACTIVE.value, "now": now,
                                                    "name": name, "stamp": "activated_at"})
                connection.execute(sql.SET_NUMBER_COUNTS,
                                   {"name": name, "invalid": invalid, "duplicate": duplicate})
                queued = _queue(connection, name, prospects, now)
                _write_counters(connection, name, None)
            self._mark_status(name, Status.ACTIVE)
        return queued

    def queue(self, name: str, prospects: pl.DataFrame, now: datetime) -> Queued:
        """Prospects added to an existing campaign's ledger once (a rerun adds nothing)."""
        with self._connect() as connection, transaction(connection):
            _status(connection, name)
            return _queue(connection, name, prospects, now)

    # -- sending ---------------------------------------------------------------------------
    def step(self, name: str, results: pl.DataFrame, *, claimer: str, claim: int,
             now: datetime, write_counters: bool = False) -> Step:
        """Records ``results`` (RESULT_SCHEMA), then claims up to ``claim`` queued rows for
        ``claimer`` if the campaign is Active and has not ended: one transaction."""
        with self._connect() as connection:
            with transaction(connection):
                opted_out = _record(connection, results, claimer, now)
                status, end_at, _ = _status(connection, name)
                rows, suppressed = pl.DataFrame(), 0
                if claim > 0 and lifecycle.may_send(status) and not lifecycle.has_ended(
                        end_at, now):
                    rows, suppressed = _claim(connection, name, claimer, claim, now)
                if write_counters:
                    _write_counters(connection, name, None)
            self._mark_status(name, status)  # heals a marker a failed write left stale
            if opted_out:
                self._stamp_suppressions()
        return Step(status, end_at, rows, suppressed)

    def finish(self, name: str, results: pl.DataFrame, *, claimer: str, now: datetime
               ) -> Finish:
        """The run's last record, then the runner's lifecycle step (core runner_command:
        end a campaign whose end_at passed, complete an Active one whose rows are all
        final), the counters, last_run_at and last_run_result: one transaction."""
        with self._connect() as connection:
            with transaction(connection):
                opted_out = _record(connection, results, claimer, now)
                status, end_at, start_at = _status(connection, name)
                states = _states(connection, name)
                command = lifecycle.runner_command(
                    status, start_at, end_at, now,
                    all_rows_final=not (states.get("queued", 0) or states.get("sending", 0)))
                if command in (Command.END, Command.COMPLETE):
                    status = lifecycle.transition(status, command, name)
                    connection.execute(sql.SET_STATUS, {"status": status.value, "now": now,
                                                        "name": name, "stamp": "completed_at"})
                    if command == Command.END:
                        connection.execute(sql.EXPIRE, {"name": name, "now": now})
                        states = _states(connection, name)
                written = _write_counters(connection, name, now, states)
            self._mark_status(name, status)
            if opted_out:
                self._stamp_suppressions()
        return Finish(status, states, written)

    def claims(self, name: str) -> pl.DataFrame:
        """The campaign's ``sending`` rows: idempotency_key, phone_e164, first_name,
        claimed_at, claimed_by."""
        with self._connect() as connection:
            return _frame(connection.sql(sql.SENDING, params={"name": name}))

    def adopt(self, name: str, stale: Callable[[pl.DataFrame], pl.DataFrame], *,
              claimer: str, now: datetime) -> pl.DataFrame:
        """The ``sending`` rows ``stale`` picks (their runner is dead or their lease ran out)
        taken over by ``claimer``, with their old ``claimed_at``: one transaction, so of two
        runners adopting at once each row goes to one."""
        with self._connect() as connection, transaction(connection):
            picked = stale(_frame(connection.sql(sql.SENDING, params={"name": name})))
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
            return _frame(connection.sql(sql.CANDIDATES, params={"name": name, "n": cap}))

    def ledger(self, name: str) -> pl.DataFrame:
        with self._connect() as connection:
            return _frame(connection.sql(
                f"SELECT * FROM {sql.LEDGER} WHERE campaign = $name ORDER BY phone_e164",  # noqa: S608
                params={"name": name}))

    def states(self, name: str) -> dict[str, int]:
        with self._connect() as connection:
            return _states(connection, name)

    def write_counters(self, name: str, now: datetime | None = None) -> Counters:
        """The counters (and, with ``now``, last_run_at and last_run_result) written."""
        with self._connect() as connection, transaction(connection):
            return _write_counters(connection, name, now)

    # -- suppressions and events -----------------------------------------------------------
    def suppress(self, phones: list[str], reason: str, source: str, now: datetime) -> int:
        """Numbers no campaign texts from now on (the next claim); numbers suppressed
        already keep their first reason. How many are new."""
        if reason not in SUPPRESSION_REASONS:
            raise ValueError(f"reason must be one of {SUPPRESSION_REASONS}, not {reason!r}")
        rows = pl.DataFrame({"phone_e164": phones, "reason": reason, "source": source},
                            schema={"phone_e164": pl.String, "reason": pl.String,
                                    "source": pl.String})
        with self._connect() as connection:
            with transaction(connection):
                added = _changed(connection, sql.SUPPRESSIONS, lambda: _with_rows(
                    connection, rows, sql.SUPPRESS, {"now": now}))
            self._stamp_suppressions()
        return added

    def unsuppress(self, phones: list[str],
                   reasons: tuple[str, ...] = SUPPRESSION_REASONS) -> int:
        """Removes the numbers' suppressions of those ``reasons`` (a START reply lifts
        ``stop_reply`` and ``provider_21610``, never ``manual``). How many were removed."""
        rows = pl.DataFrame({"phone_e164": phones}, schema={"phone_e164": pl.String})
        with self._connect() as connection:
            with transaction(connection):
                removed = _changed(connection, sql.SUPPRESSIONS, lambda: _with_rows(
                    connection, rows, sql.UNSUPPRESS, {"reasons": list(reasons)}))
            self._stamp_suppressions()
        return removed

    def suppression(self, phone: str) -> dict[str, Any] | None:
        with self._connect() as connection:
            found = _rows(connection, sql.SUPPRESSION, {"phone": phone})
        return found[0] if found else None

    def apply_events(self, events: pl.DataFrame, now: datetime) -> dict[str, Any]:
        """Receipts and inbound messages (EVENT_SCHEMA) appended to ``sms_events`` once each
        (by event_id) and applied: receipts move the ledger forward (core after_receipt's
        rule), STOP words suppress the number, START words lift a stop; the counters of the
        campaigns touched are rewritten. Outcome counts, the duplicates, and the unknown
        message ids (kept, to be applied when their message is recorded)."""
        events = events.select(EVENT_SCHEMA.names()).cast(EVENT_SCHEMA)
        with self._connect() as connection:
            with transaction(connection):
                new = _frame_with(connection, events, sql.NEW_EVENTS).cast(EVENT_SCHEMA)
                decided = _decide_events(connection, new, now)
                _with_rows(connection, decided, sql.INSERT_EVENTS, {"now": now})
                for name in decided.get_column("campaign").drop_nulls().unique().to_list():
                    _write_counters(connection, name, None)
            if decided.filter(pl.col("outcome").is_in(["opt_out", "opt_in"])).height:
                self._stamp_suppressions()
        outcomes = decided.get_column("outcome").value_counts()
        return {"received": events.height, "duplicates": events.height - new.height,
                "outcomes": dict(outcomes.iter_rows()),
                "unknown_message_ids": decided.filter(pl.col("outcome") == "unknown_message")
                .get_column("provider_message_id").to_list()}

    def _connect(self):
        return _Prepared(self.warehouse)


_READY: set[tuple[str, int]] = set()  # (file, inode) whose tables this process has made


class _Prepared:
    """A connection with the tables there and the session in UTC."""

    def __init__(self, warehouse: DuckDBWarehouse):
        self._context, self._path = warehouse.connect(), str(warehouse.path)

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        connection = self._context.__enter__()
        connection.execute("SET TimeZone = 'UTC'")
        file = os.stat(self._path)
        if (self._path, file.st_ino) not in _READY:  # the DDL costs ~2 ms a connection
            connection.execute(sql.DDL)
            _READY.add((self._path, file.st_ino))
        return connection

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)


def _status(connection: duckdb.DuckDBPyConnection, name: str
            ) -> tuple[Status, datetime | None, datetime]:
    found = connection.execute(sql.STATUS, {"name": name}).fetchall()
    if not found:
        raise ProblemsError([{"field": "name", "problem": f"no SMS campaign {name!r}",
                              "fix": "check the name with `campaigns sms list`"}])
    return Status(found[0][0]), found[0][1], found[0][2]


def _queue(connection: duckdb.DuckDBPyConnection, name: str, prospects: pl.DataFrame,
           now: datetime) -> Queued:
    rows = (prospects.select("phone_e164", "first_name", "idempotency_key")
            .unique("phone_e164", keep="first", maintain_order=True))
    before = connection.execute(sql.LEDGER_COUNT, {"name": name}).fetchall()[0][0]
    _with_rows(connection, rows, sql.QUEUE, {"name": name, "now": now})
    after = connection.execute(sql.LEDGER_COUNT, {"name": name}).fetchall()[0][0]
    return Queued(queued=after - before, already=rows.height - (after - before))


def _claim(connection: duckdb.DuckDBPyConnection, name: str, claimer: str, n: int,
           now: datetime) -> tuple[pl.DataFrame, int]:
    candidates = _frame(connection.sql(sql.CANDIDATES, params={"name": name, "n": n}))
    if candidates.height == 0:
        return candidates, 0
    blocked = pl.col("suppressed_reason").is_not_null()
    _with_rows(connection, candidates.filter(blocked), sql.SUPPRESS_AT_CLAIM, {"now": now})
    rows = candidates.filter(~blocked).drop("suppressed_reason")
    _with_rows(connection, rows, sql.CLAIM, {"now": now, "claimer": claimer})
    return rows, candidates.height - rows.height


def _record(connection: duckdb.DuckDBPyConnection, results: pl.DataFrame, claimer: str,
            now: datetime) -> bool:
    """Records ``results``; True when a provider's opt-out suppressed a number."""
    if results.height == 0:
        return False
    results = results.select(RESULT_SCHEMA.names()).cast(RESULT_SCHEMA)
    _with_rows(connection, results.drop("suppress_reason"), sql.RECORD,
               {"now": now, "claimer": claimer})
    opted_out = results.filter(pl.col("suppress_reason").is_not_null()).select(
        "phone_e164", reason=pl.col("suppress_reason"),
        source=pl.lit("provider refusal of ") + pl.col("idempotency_key"))
    _with_rows(connection, opted_out, sql.SUPPRESS, {"now": now})
    accepted = results.filter(pl.col("provider_message_id").is_not_null())
    if accepted.height:
        waiting = _frame_with(connection, accepted, sql.WAITING_RECEIPTS)
        if waiting.height:
            decided = _decide_events(connection, waiting.cast(EVENT_SCHEMA), now)
            _with_rows(connection, decided, sql.MARK_APPLIED)
    return opted_out.height > 0


def _decide_events(connection: duckdb.DuckDBPyConnection, events: pl.DataFrame,
                   now: datetime) -> pl.DataFrame:
    """``events`` with the campaign each concerns and its outcome, their effects applied."""
    receipts = events.filter(pl.col("kind") == "status")
    rows = _frame_with(connection, receipts.select("provider_message_id").unique(),
                       sql.RECEIPT_ROWS, schema={"provider_message_id": pl.String,
                                                 "campaign": pl.String, "state": pl.String})
    decided_receipts, changes = decide_receipts(receipts, rows)
    _with_rows(connection, changes, sql.APPLY_RECEIPTS)
    inbound = events.filter(pl.col("kind") == "inbound")
    campaigns = _frame_with(connection, inbound, sql.REPLY_CAMPAIGNS,
                            schema={"event_id": pl.String, "campaign": pl.String})
    decided_inbound, stops, starts = decide_inbound(inbound, campaigns)
    _with_rows(connection, stops, sql.SUPPRESS, {"now": now})
    _with_rows(connection, starts, sql.UNSUPPRESS, {"reasons": ["stop_reply", "provider_21610"]})
    return pl.concat([decided_receipts, decided_inbound], how="diagonal_relaxed")


def _states(connection: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    return {state: int(n) for state, n in
            connection.execute(sql.STATES, {"name": name}).fetchall()}


def _write_counters(connection: duckdb.DuckDBPyConnection, name: str, now: datetime | None,
                    states: dict[str, int] | None = None) -> Counters:
    states = _states(connection, name) if states is None else states
    replies, opt_outs = connection.execute(sql.INBOUND_COUNTS, {"name": name}).fetchall()[0]
    written = counters(states, replies=int(replies), opt_outs=int(opt_outs))
    connection.execute(sql.SET_COUNTERS, {
        "name": name, "total_queued": written.total, "sent": written.sent,
        "delivered": written.delivered, "failed": written.failed,
        "suppressed": states.get("suppressed", 0), "replies": written.replies,
        "opt_outs": written.opt_outs, "delivery_rate": written.delivery_rate,
        "opt_out_rate": written.opt_out_rate, "last_run_at": now,
        "last_run_result": run_result(states) if now is not None else None})
    return written


def _changed(connection: duckdb.DuckDBPyConnection, table: str, change: Callable) -> int:
    count = f"SELECT count(*) FROM {table}"  # noqa: S608
    before = connection.execute(count).fetchall()[0][0]
    change()
    return abs(connection.execute(count).fetchall()[0][0] - before)


def _rows(connection: duckdb.DuckDBPyConnection, query: str, params: dict) -> list[dict]:
    return _frame(connection.sql(query, params=params)).to_dicts()


def _frame(relation) -> pl.DataFrame:
    return pl.from_arrow(relation.to_arrow_table())  # type: ignore[return-value]


def _frame_with(connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, query: str,
                schema: dict | None = None) -> pl.DataFrame:
    """``query``'s answer with ``rows`` visible as ``_rows``; empty ``rows``: no query."""
    if rows.height == 0:
        return pl.DataFrame(schema=schema or rows.schema)
    connection.register("_rows", rows.to_arrow())
    return _frame(connection.sql(query))


def _with_rows(connection: duckdb.DuckDBPyConnection, frame: pl.DataFrame, query: str,
               parameters: dict | None = None) -> None:
    """Runs ``query`` with ``frame`` visible as ``_rows`` (Arrow, no per-row insert)."""
    if frame.height:
        connection.register("_rows", frame.to_arrow())
        connection.execute(query, parameters or {})


LEASE = timedelta(minutes=10)
