"""Sending an SMS campaign: claim a group → send each message with the warehouse closed →
record the group, read the status and claim the next group, in one transaction.

``run_campaign`` first reconciles the campaign's ``sending`` rows left by a runner that died
(its process is gone from this host, or its claim is older than LEASE): for each it asks the
provider ``find_sent`` (a message to that number, from that sender, with exactly that body,
since the claim); found → ``sent`` with that id, not found → back to ``queued``. Then it
sends in groups of ``progress_every`` (25) messages; each group's outcomes are recorded, and
the counters written, in the transaction that claims the next group (``SmsStore.step``).

Why groups and not one record per message: every unit of work opens the DuckDB file and
closes it (DESIGN §3: no connection across a send), and on the 2-core build machine an open
costs ~13 ms and the close's checkpoint ~10-20 ms on a 100,000-row ledger, whatever the
work inside. One transaction per message would cap the engine near 30 messages/s; one per
25 gives the figures in bench/bench_sms.py. The exactly-once guarantee does not rest on the
record but on reconciliation: a SIGKILL leaves the killed group's rows ``sending`` (up to
``progress_every``, accepted or not) and the next run asks the provider about each one.

Between claims the runner reads, every ``status_check_every`` (10) messages, three small
files beside the warehouse that the store writes (``SmsStore.marker_folder``), not the
warehouse itself: a pause or cancel under way (``<name>.request``, written by
``apply_command`` before it waits for the file lock), the committed status
(``<name>.status``) and the suppressions' stamp (``suppressions.stamp``, changed by every
suppression; when it moved, the group's remaining numbers are looked up in the warehouse).
Hence:

- a pause or cancel stops the run within ``status_check_every`` further sends, even one
  issued by another process while a fast runner keeps the file busy; only Active campaigns
  are claimed from (core lifecycle.may_send), so nothing is sent after Completed or
  Cancelled;
- a suppression (manual, STOP, 21610) committed during a run holds within
  ``status_check_every`` sends, and at every claim (the number's row becomes ``suppressed``),
  in every campaign;
- the counters move at least every ``progress_every`` messages, and at the end of the run.

Per message: quiet hours in the recipient's zone (core phones.recipient_time_zone; the
window's own zone for +7 numbers); the first recipient outside the window stops the run
with the window's next opening (the group's rest goes back to ``queued``: the next run after
the opening carries on); the throttles (core throttle.TokenBucket: the provider's bucket
passed in and the campaign's ``throttle_per_second``); the message rendered (core
template.render_message; a MessageError fails that row); the send. ``SmsRefused`` fails the
row, or suppresses it and the number for good when the provider says the recipient opted
out (21610); ``SmsProviderDown`` puts the message (unless the provider may have taken it:
``maybe_taken`` leaves it ``sending`` for reconciliation) and the group's rest back to
``queued`` with the error and stops the run (``provider_down``): the next run tries again. Any other
error records the group's outcomes, leaves the message in flight ``sending``
(reconciliation decides it after LEASE) and is raised.

``start_due_campaigns`` is the schedule's other half: campaigns whose end_at passed end
(Completed, unsent rows ``expired``), due Scheduled ones start with their prospects queued,
Active ones with every row final complete (core lifecycle.runner_command).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

from campaign_pipelines.adapters.sms.protocol import (
    SmsMessage,
    SmsProvider,
    SmsProviderDown,
    SmsRefused,
)
from campaign_pipelines.adapters.sms_store import (
    LEASE,
    RESULT_SCHEMA,
    SmsStore,
    no_results,
)
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms import lifecycle
from campaign_pipelines.core.sms.ledger import PROGRESS_EVERY, STATUS_CHECK_EVERY, is_checkpoint
from campaign_pipelines.core.sms.lifecycle import Command, Status
from campaign_pipelines.core.sms.phones import recipient_time_zone
from campaign_pipelines.core.sms.quiet_hours import QuietHours
from campaign_pipelines.core.sms.template import (
    DEFAULT_MAX_SEGMENTS,
    MessageError,
    render_message,
)
from campaign_pipelines.core.sms.throttle import TokenBucket

ERROR_CHARS = 500
DRY_RUN_CAP = 100_000


class Stop(StrEnum):
    COMPLETED = "completed"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    LIMIT = "limit"
    QUIET_HOURS = "quiet_hours"
    PROVIDER_DOWN = "provider_down"
    ENDED = "ended"
    NOT_ACTIVE = "not_active"  # Scheduled: not started yet
    OTHERS_SENDING = "others_sending"  # nothing queued; another runner holds the last claims
    DRY_RUN = "dry_run"


@dataclass
class RunReport:
    campaign: str
    sent: int = 0
    failed: int = 0
    suppressed: int = 0  # at the claim (suppressed numbers) and by the provider (21610)
    attempted: int = 0  # messages given to the provider or failed rendering: what --limit counts
    left_queued: int = 0
    stopped_because: Stop | None = None
    next_opening: datetime | None = None  # with quiet_hours
    status: Status | None = None  # after the run
    reconciled_sent: int = 0
    reconciled_requeued: int = 0
    would_send: int = 0  # dry runs
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {"campaign": self.campaign, "sent": self.sent, "failed": self.failed,
                "suppressed": self.suppressed, "left_queued": self.left_queued,
                "stopped_because": str(self.stopped_because),
                "next_opening": self.next_opening.isoformat() if self.next_opening else None,
                "status": str(self.status), "reconciled_sent": self.reconciled_sent,
                "reconciled_requeued": self.reconciled_requeued,
                "would_send": self.would_send, "errors": self.errors[:10]}


def claimer_id() -> str:
    """host/pid/run: who holds a claim, so that a rerun can tell a dead runner's claims."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def claimer_is_dead(claimer: str | None) -> bool:
    """True when ``claimer`` ran on this host and its process is gone; claims from other
    hosts wait for LEASE."""
    host, _, rest = (claimer or "").partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class _Run:
    store: SmsStore
    provider: SmsProvider
    campaign: dict
    report: RunReport
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    quiet_hours: QuietHours | None
    buckets: list[TokenBucket]
    stop_hint: str
    max_segments: int
    status_callback: str | None
    log: Callable[[str], None]
    claimer: str = field(default_factory=claimer_id)
    stamp: str | None = None  # the suppressions stamp when the group was claimed

    def message(self, row: dict) -> SmsMessage:
        text = render_message(self.campaign["template"], first_name=row["first_name"],
                              campaign=self.campaign["name"], stop_hint=self.stop_hint,
                              max_segments=self.max_segments).text
        return SmsMessage(to=row["phone_e164"], body=text, sender=self.campaign["sender"],
                          campaign=self.campaign["name"],
                          idempotency_key=row["idempotency_key"],
                          status_callback=self.status_callback)

    def closed_until(self, phone: str, now: datetime) -> datetime | None:
        """None when ``phone`` may be texted at ``now``, else the window's next opening."""
        if self.quiet_hours is None:
            return None
        window = _window(self.quiet_hours, recipient_time_zone(phone, str(self.quiet_hours.zone)))
        return None if window.is_open(now) else window.next_opening(now)


@lru_cache(maxsize=64)
def _window(hours: QuietHours, zone: str) -> QuietHours:
    return hours if zone == str(hours.zone) else replace(hours, zone=ZoneInfo(zone))


def run_campaign(store: SmsStore, provider: SmsProvider, campaign_name: str, *,
                 now: datetime, limit: int | None = None, dry_run: bool = False,
                 quiet_hours: QuietHours | None, throttle: TokenBucket | None = None,
                 status_check_every: int = STATUS_CHECK_EVERY,
                 progress_every: int = PROGRESS_EVERY, stop_hint: str,
                 max_segments: int = DEFAULT_MAX_SEGMENTS, status_callback: str | None = None,
                 log: Callable[[str], None] = print,
                 clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> RunReport:
    """Sends the campaign's queued messages as the module says; ``now`` is the run's start
    and ``clock`` the time during it (default: ``now`` plus the time elapsed); ``sleep`` and
    ``monotonic`` drive the throttles (tests pass a fake pair)."""
    campaign = store.campaign(campaign_name)
    if campaign is None:
        store.status(campaign_name)  # raises the ProblemsError naming the campaign
        raise AssertionError("unreachable")
    started = time.monotonic()
    run = _Run(store, provider, campaign, RunReport(campaign_name),
               clock or (lambda: now + timedelta(seconds=time.monotonic() - started)), sleep,
               quiet_hours, [], stop_hint, max_segments, status_callback, log)
    if dry_run:
        return _dry_run(run)
    if throttle is not None:
        run.buckets.append(throttle)
    if campaign["throttle_per_second"]:
        run.buckets.append(TokenBucket(campaign["throttle_per_second"], clock=monotonic))
    _reconcile(run)
    results = no_results()
    try:
        results = _send_groups(run, limit, max(1, status_check_every), max(1, progress_every))
    finally:
        finished = store.finish(campaign_name, results, claimer=run.claimer, now=run.clock())
        run.report.status = finished.status
        run.report.left_queued = finished.states.get("queued", 0)
        if run.report.stopped_because is None:  # an error went up
            run.report.stopped_because = Stop.PROVIDER_DOWN
    if finished.status == Status.COMPLETED and run.report.stopped_because in (
            Stop.OTHERS_SENDING, Stop.LIMIT):
        run.report.stopped_because = Stop.COMPLETED
    log(f"sms {campaign_name}: sent {run.report.sent}, failed {run.report.failed}, "
        f"suppressed {run.report.suppressed}, {run.report.left_queued} left queued; "
        f"stopped: {run.report.stopped_because}; status {finished.status}")
    return run.report


def _send_groups(run: _Run, limit: int | None, check_every: int, progress_every: int
                 ) -> pl.DataFrame:
    """Groups of ``progress_every`` until a stop; the last group's outcomes, for ``finish``
    to record."""
    results, name, report = no_results(), run.campaign["name"], run.report
    # A slow throttle must not let a group outlive its claims' lease (another runner would
    # take them over): a group lasts at most half the lease.
    rates = [bucket.rate for bucket in run.buckets if bucket.rate is not None]
    group = min([progress_every] + [max(1, int(rate * LEASE.total_seconds() / 2))
                                    for rate in rates])
    while True:
        room = group if limit is None else min(group, limit - report.attempted)
        run.stamp = run.store.suppressions_stamp()  # a change after this is seen mid-group
        step = run.store.step(name, results, claimer=run.claimer, claim=max(room, 0),
                              now=run.clock(), write_counters=results.height > 0)
        results = no_results()
        report.suppressed += step.suppressed
        if (stop := _stop_before_group(step.status, step.end_at, run.clock())) is not None:
            report.stopped_because = stop
            return results
        if room <= 0:
            report.stopped_because = Stop.LIMIT
            return results
        if step.rows.height == 0:
            if step.suppressed:
                continue
            report.stopped_because = Stop.OTHERS_SENDING  # finish completes it when all final
            return results
        results = _send_group(run, step.rows, check_every)
        if report.stopped_because is not None:
            return results


def _stop_before_group(status: Status, end_at: datetime | None, now: datetime
                       ) -> Stop | None:
    if status == Status.PAUSED:
        return Stop.PAUSED
    if status == Status.CANCELLED:
        return Stop.CANCELLED
    if status == Status.COMPLETED:
        return Stop.ENDED if end_at is not None and end_at <= now else Stop.COMPLETED
    if status == Status.SCHEDULED:
        return Stop.NOT_ACTIVE
    if lifecycle.has_ended(end_at, now):
        return Stop.ENDED
    return None


def _check(run: _Run, rest: list[dict], blocked: dict[str, str]) -> Stop | None:
    """Between claims: a pause or cancel under way, the status marker, and the
    suppressions when their stamp moved."""
    request = run.store.stop_request(run.campaign["name"])
    if request is not None:
        return Stop.PAUSED if request == Command.PAUSE else Stop.CANCELLED
    status = run.store.status_marker(run.campaign["name"])
    if status is not None and (stop := _stop_before_group(status, None, run.clock())):
        return stop
    stamp = run.store.suppressions_stamp()
    if stamp != run.stamp:
        run.stamp = stamp
        blocked.update(run.store.suppressed_among([row["phone_e164"] for row in rest]))
    return None


def _send_group(run: _Run, rows: pl.DataFrame, check_every: int) -> pl.DataFrame:
    outcomes: list[dict] = []
    claimed = rows.to_dicts()
    report = run.report
    blocked: dict[str, str] = {}
    for index, row in enumerate(claimed):
        outcome = _released([row], None)[0]
        if is_checkpoint(index, check_every) and (
                stop := _check(run, claimed[index:], blocked)) is not None:
            report.stopped_because = stop
            return _frame(outcomes + _released(claimed[index:], None))
        if row["phone_e164"] in blocked:
            outcomes.append(outcome | {"state": "suppressed", "last_error":
                                       f"the number is suppressed ({blocked[row['phone_e164']]})"})
            report.suppressed += 1
            continue
        opening = run.closed_until(row["phone_e164"], run.clock())
        if opening is not None:
            report.stopped_because, report.next_opening = Stop.QUIET_HOURS, opening
            return _frame(outcomes + _released(claimed[index:], None))
        for bucket in run.buckets:
            bucket.send_when_allowed(run.sleep)
        report.attempted += 1
        try:
            accepted = run.provider.send(run.message(row))
        except MessageError as error:
            outcome |= {"state": "failed", "last_error": _short(error)}
            report.failed += 1
        except SmsRefused as error:
            outcome |= {"state": "suppressed" if error.suppressed else "failed",
                        "last_error": _short(error),
                        "suppress_reason": "provider_21610" if error.suppressed else None}
            report.suppressed += error.suppressed
            report.failed += not error.suppressed
        except SmsProviderDown as error:
            down = f"{run.provider.name} is down: {_short(error)}"
            report.errors.append(down)
            report.stopped_because = Stop.PROVIDER_DOWN
            run.log(down)
            if error.maybe_taken:  # the provider may hold it: left ``sending`` to reconcile
                return _frame(outcomes + _released(claimed[index + 1:], down))
            return _frame(outcomes + _released(claimed[index:], down))
        except BaseException:
            # The outcome of this one is unknown: it stays ``sending`` for reconciliation.
            run.store.step(run.campaign["name"], _frame(outcomes + _released(
                claimed[index + 1:], None)), claimer=run.claimer, claim=0, now=run.clock())
            report.stopped_because = Stop.PROVIDER_DOWN
            raise
        else:
            outcome |= {"state": "sent", "provider_message_id": accepted.provider_message_id,
                        "sent_at": run.clock()}
            report.sent += 1
        outcomes.append(outcome)
    return _frame(outcomes)


def _released(rows: list[dict], error: str | None) -> list[dict]:
    return [{"idempotency_key": r["idempotency_key"], "phone_e164": r["phone_e164"],
             "state": "queued", "provider_message_id": None, "last_error": error,
             "sent_at": None, "suppress_reason": None} for r in rows]


def _frame(outcomes: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(outcomes, schema=RESULT_SCHEMA)


def _reconcile(run: _Run) -> None:
    """The campaign's claims of dead runners, each decided by ``find_sent``."""
    now = run.clock()

    def stale(claims: pl.DataFrame) -> pl.DataFrame:
        dead = {c for c in claims.get_column("claimed_by").unique().to_list()
                if claimer_is_dead(c)}
        return claims.filter(pl.col("claimed_by").is_in(list(dead))
                             | (pl.col("claimed_at") <= now - LEASE))

    adopted = run.store.adopt(run.campaign["name"], stale, claimer=run.claimer, now=now)
    if adopted.height == 0:
        return
    outcomes = []
    for row in adopted.to_dicts():
        outcome = _released([row], None)[0]
        try:
            found = run.provider.find_sent(run.message(row), since=row["claimed_at"])
        except MessageError as error:
            found, outcome = None, outcome | {"state": "failed", "last_error": _short(error)}
        if found is not None:
            outcome |= {"state": "sent", "provider_message_id": found.provider_message_id,
                        "sent_at": row["claimed_at"]}
            run.report.reconciled_sent += 1
        elif outcome["state"] == "queued":
            run.report.reconciled_requeued += 1
        outcomes.append(outcome)
    run.store.step(run.campaign["name"], _frame(outcomes), claimer=run.claimer, claim=0,
                   now=now)
    run.log(f"sms {run.campaign['name']}: reconciled {adopted.height} claims of a dead "
            f"runner: {run.report.reconciled_sent} had been sent, "
            f"{run.report.reconciled_requeued} queued again")


def _dry_run(run: _Run) -> RunReport:
    """Renders and counts what a run would send now; changes nothing."""
    report = run.report
    report.stopped_because, report.status = Stop.DRY_RUN, run.store.status(report.campaign)
    queued = run.store.queued(report.campaign, DRY_RUN_CAP)
    report.left_queued = queued.height
    for row in queued.to_dicts():
        if row["suppressed_reason"] is not None:
            report.suppressed += 1
            continue
        try:
            run.message(row)
        except MessageError as error:
            report.failed += 1
            if len(report.errors) < 10:
                report.errors.append(_short(error))
            continue
        report.would_send += 1
    return report


def _short(error: BaseException) -> str:
    return masked(f"{type(error).__name__}: {error}")[:ERROR_CHARS]


@dataclass(frozen=True)
class Prospects:
    """A campaign's recipients as the defs layer resolved them: phone_e164, first_name,
    idempotency_key (core ledger.with_idempotency_keys), and the numbers left out."""

    rows: pl.DataFrame
    invalid: int = 0
    duplicate: int = 0


@dataclass(frozen=True)
class Started:
    """What ``start_due_campaigns`` did (or, dry, would do): campaign name → runner command,
    and the campaigns that could not start (their prospects refused: name → problems)."""

    commands: dict[str, str] = field(default_factory=dict)
    refused: dict[str, list[dict]] = field(default_factory=dict)


def start_due_campaigns(store: SmsStore, now: datetime,
                        prospects_for: Callable[[dict], Prospects], *,
                        only: str | None = None, dry_run: bool = False,
                        log: Callable[[str], None] = print) -> Started:
    """Each non-final campaign's runner command at ``now`` applied (core
    lifecycle.runner_command): ``end``, ``start`` (with its prospects queued, in the same
    transaction) or ``complete``; ``only``: that campaign alone. A campaign whose prospects
    cannot be had (``prospects_for`` raises ProblemsError: an upload with no phone column, a
    code with no target rows) stays Scheduled and is reported in ``refused``; the others go
    on. A dry run resolves the prospects (reads only) and changes nothing."""
    started = Started()
    for campaign in store.campaigns().to_dicts():
        name = campaign["name"]
        if Status(campaign["status"]) in lifecycle.FINAL or only not in (None, name):
            continue
        states = store.states(name) if campaign["status"] == Status.ACTIVE else {}
        command = lifecycle.runner_command(
            campaign["status"], campaign["start_at"], campaign["end_at"], now,
            all_rows_final=not (states.get("queued", 0) or states.get("sending", 0)))
        if command is None:
            continue
        if command == Command.START:
            try:
                found = prospects_for(campaign)
            except ProblemsError as error:
                started.refused[name] = error.problems
                log(f"sms {name} cannot start: {masked(str(error))}")
                continue
            started.commands[name] = command.value
            if dry_run:
                continue
            queued = store.start(name, found.rows, now, invalid=found.invalid,
                                 duplicate=found.duplicate)
            log(f"sms {name}: started, {queued.queued:,} queued "
                f"({found.invalid:,} invalid, {found.duplicate:,} duplicate numbers left out)")
            continue
        started.commands[name] = command.value
        if dry_run:
            continue
        store.apply_command(name, command, now)
        store.write_counters(name, now)
        log(f"sms {name}: {command.value} → Completed")
    return started
