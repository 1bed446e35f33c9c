"""SMS campaign state in the DuckDB warehouse (``campaign_ops``; SQL in sms_store_sql.py):

- ``sms_campaigns``: one row per campaign: its file's fields and version, status
  (core/sms/lifecycle.py), the status's timestamps, the last run and the counters;
- ``sms_ledger``: one row per campaign × E.164 number (core/sms/ledger.py's key and states),
  with who claimed it (``claimed_by``: host/pid/run) and when;
- ``sms_suppressions``: numbers no campaign texts (reason ``stop_reply``, ``provider_21610``
  or ``manual``);
- ``sms_events``: append-only receipts and inbound messages, each with its outcome
  (``applied``, ``unchanged``, ``unknown_message``, ``reply``, ``opt_out``, ``opt_in``).

Each method is one unit of work with the file opened for it alone (ATTACHed to the
process's DuckDB engine and DETACHed at the end: warehouse/duckdb_attached.py says why
and when it checkpoints), and every change is one transaction of set operations over Arrow batches:
nothing here holds the file across a send (DESIGN §3). ``step`` is the runner's one call per
batch of messages: it records the last batch's outcomes, reads the campaign's status and,
only while it is Active, claims the next batch (``queued`` → ``sending``) in the same
transaction, so a pause or cancel committed before it is seen before anything more is
claimed, and two runners never claim one row. Numbers suppressed by then become
``suppressed`` at the claim: the send-time check. Between two steps, ``progress`` writes the
counters every 25 messages with the outcomes the runner has not recorded yet counted in.
Those units of the runner live in sms_store_sending.py (``SendingUnits``, mixed in here).

A receipt for a message id the ledger does not know is kept (``unknown_message``) and
reported; if the runner records that id later (the receipt overtook the record), the
receipt is applied then. An inbound message counts as a reply to the campaign that last
texted that number; a STOP word suppresses the number (``stop_reply``), a START word lifts
``stop_reply`` and ``provider_21610`` suppressions, never a ``manual`` one.

Markers (``marker_folder``, beside the warehouse file, read without opening it): every
status change leaves ``<name>.status``, a pause or cancel under way ``<name>.request``
(written before the command waits for the file lock, removed once decided), and every
suppression change a new ``suppressions.stamp``. The runner reads them between claims
(adapters/sms_runner.py); the warehouse stays the record, and each ``step`` rewrites a
status marker that disagrees with it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from campaign_pipelines.adapters import sms_store_sql as sql
from campaign_pipelines.adapters.atomic_write import write_bytes_atomic
from campaign_pipelines.adapters.sms_store_sending import SendingUnits
from campaign_pipelines.adapters.sms_store_sql import EVENT_SCHEMA, Queued
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse, transaction
from campaign_pipelines.adapters.warehouse.duckdb_attached import Attached
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms import lifecycle
from campaign_pipelines.core.sms.campaign import CampaignFile
from campaign_pipelines.core.sms.ledger import Counters
from campaign_pipelines.core.sms.lifecycle import Command, Status

SUPPRESSION_REASONS = ("stop_reply", "provider_21610", "manual")
# A command waits at most the warehouse's lock timeout (120 s by default) for the file.
REQUEST_TTL_S = 600.0
_STAMPS = {Command.START: "activated_at", Command.PAUSE: "paused_at",
           Command.COMPLETE: "completed_at", Command.END: "completed_at",
           Command.CANCEL: "cancelled_at"}


@dataclass(frozen=True)
class SmsStore(SendingUnits):
    """``markers``: the folder of the status and suppression markers (default
    ``sms_markers`` beside the warehouse file)."""

    warehouse: DuckDBWarehouse
    markers: Path | None = None

    @property
    def marker_folder(self) -> Path:
        return self.markers or self.warehouse.path.parent / "sms_markers"

    @property
    def journal_folder(self) -> Path:
        """The runners' outcome journals (adapters/sms_journal.py), beside the markers."""
        return self.marker_folder.parent / "sms_journal"

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
        """A pause or cancel under way in another process (``apply_command``). One older
        than REQUEST_TTL_S was left by a command killed before it finished: ignored, or a
        runner would stop at every check of an Active campaign."""
        request = self.marker_folder / f"{name}.request"
        try:
            if time.time() - request.stat().st_mtime > REQUEST_TTL_S:
                return None
            return Command(request.read_text())
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
            found = sql.frame_with(connection, rows, sql.SUPPRESSED_AMONG,
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
            old = sql.dict_rows(connection, sql.CAMPAIGN, {"name": c.name})
            if not old:
                sql.with_rows(connection, row, sql.INSERT_CAMPAIGN, {"now": now})
                return "created"
            if old[0]["version"] == parsed.version:
                return "unchanged"
            if old[0]["status"] != Status.SCHEDULED:
                raise ProblemsError([{
                    "field": "name", "problem": f"campaign {c.name!r} is "
                    f"{old[0]['status']}: only a Scheduled campaign can be replaced",
                    "fix": "give the new campaign another name"}])
            sql.with_rows(connection, row, sql.REPLACE_CAMPAIGN, {"now": now})
            return "replaced"

    def campaign(self, name: str) -> dict[str, Any] | None:
        with self._connect() as connection:
            found = sql.dict_rows(connection, sql.CAMPAIGN, {"name": name})
        return found[0] if found else None

    def campaigns(self) -> pl.DataFrame:
        with self._connect() as connection:
            return sql.frame(connection.sql(sql.ALL_CAMPAIGNS))

    def status(self, name: str) -> Status:
        """The campaign's status now (the runner's pause check between groups is ``step``)."""
        with self._connect() as connection:
            return sql.status_of(connection, name)[0]

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
                    before, *_ = sql.status_of(connection, name)
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
                before, *_ = sql.status_of(connection, name)
                lifecycle.transition(before, Command.START, name)
                connection.execute(sql.SET_STATUS, {"status": Status.ACTIVE.value, "now": now,
                                                    "name": name, "stamp": "activated_at"})
                connection.execute(sql.SET_NUMBER_COUNTS,
                                   {"name": name, "invalid": invalid, "duplicate": duplicate})
                queued = sql.queue_rows(connection, name, prospects, now)
                sql.write_counters(connection, name, None)
            self._mark_status(name, Status.ACTIVE)
        return queued

    def queue(self, name: str, prospects: pl.DataFrame, now: datetime) -> Queued:
        """Prospects added to an existing campaign's ledger once (a rerun adds nothing)."""
        with self._connect() as connection, transaction(connection):
            sql.status_of(connection, name)
            return sql.queue_rows(connection, name, prospects, now)

    def ledger(self, name: str) -> pl.DataFrame:
        with self._connect() as connection:
            return sql.frame(connection.sql(
                f"SELECT * FROM {sql.LEDGER} WHERE campaign = $name ORDER BY phone_e164",  # noqa: S608
                params={"name": name}))

    def states(self, name: str) -> dict[str, int]:
        with self._connect() as connection:
            return sql.ledger_states(connection, name)

    def write_counters(self, name: str, now: datetime | None = None) -> Counters:
        """The counters (and, with ``now``, last_run_at and last_run_result) written."""
        with self._connect() as connection, transaction(connection):
            return sql.write_counters(connection, name, now)

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
                added = sql.count_changed(connection, sql.SUPPRESSIONS, lambda: sql.with_rows(
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
                removed = sql.count_changed(connection, sql.SUPPRESSIONS, lambda: sql.with_rows(
                    connection, rows, sql.UNSUPPRESS, {"reasons": list(reasons)}))
            self._stamp_suppressions()
        return removed

    def suppression(self, phone: str) -> dict[str, Any] | None:
        with self._connect() as connection:
            found = sql.dict_rows(connection, sql.SUPPRESSION, {"phone": phone})
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
                new = sql.frame_with(connection, events, sql.NEW_EVENTS).cast(EVENT_SCHEMA)
                decided = sql.decide_events(connection, new, now)
                sql.with_rows(connection, decided, sql.INSERT_EVENTS, {"now": now})
                for name in decided.get_column("campaign").drop_nulls().unique().to_list():
                    sql.write_counters(connection, name, None)
            if decided.filter(pl.col("outcome").is_in(["opt_out", "opt_in"])).height:
                self._stamp_suppressions()
        outcomes = decided.get_column("outcome").value_counts()
        return {"received": events.height, "duplicates": events.height - new.height,
                "outcomes": dict(outcomes.iter_rows()),
                "unknown_message_ids": decided.filter(pl.col("outcome") == "unknown_message")
                .get_column("provider_message_id").to_list()}

    def _connect(self, *, checkpoint: bool = True) -> Attached:
        return Attached(self.warehouse, sql.DDL, sql.TABLES, checkpoint=checkpoint)

