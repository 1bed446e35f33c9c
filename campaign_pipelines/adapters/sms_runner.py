"""Sending an SMS campaign: claim a batch → send each message with the warehouse closed,
journalling each outcome → every 25 messages a progress unit writes the counters → record
the batch, read the status and claim the next batch, in one transaction.

``run_campaign`` first reconciles the ``sending`` rows of runners that died
(adapters/sms_reconcile.py: from their journals, else the provider's ``find_sent``). Then it
claims ``batch`` (500) rows at a time (``SmsStore.step``: the previous batch's outcomes
recorded, the status read and, only while Active, the next rows claimed, in one transaction;
two runners never claim one row) and sends them one by one.

Design decision (issue 12's throughput target, bench/bench_sms.py): the ledger is recorded
per batch, not per 25 messages, and the counters every 25 messages by a unit that touches
the counters only. Measured on the 2-core build machine, 100,000 queued rows:

- every unit of work used to pay ``duckdb.connect`` (~12 ms: the engine's catalog of built-in
  functions is built at each open) and, when it changed the ledger, a checkpoint at close
  (10-30 ms: DuckDB rewrites every changed column of the row group), so one unit per 25
  messages capped the engine near 900 messages/s before any work; the store now ATTACHes the
  file to an engine built once per process (~0.6 ms, warehouse/duckdb_attached.py), and
  only the units that change the ledger checkpoint;
- updating 25 ledger rows (a join over the campaign's rows) cost as much as updating 500, and
  leaving those updates in the WAL made every later ATTACH replay them (a 1 MiB WAL ran at 40%
  of the speed of 256 KiB): so the outcomes wait in memory and in the run's journal
  (adapters/sms_journal.py) and are recorded per batch, and a progress unit writes counters
  computed from the ledger's states plus the outcomes not recorded yet (``SmsStore.progress``:
  ATTACH, two reads, one UPDATE, DETACH, ~4 ms, no checkpoint);
- the suppression check stays per claim plus the stamp marker every 10 messages (the
  warehouse is read only when the stamp moved): already a batched check;
- rejected: pipelining (a thread recording while another sends) would keep the file busy
  nearly all the time and lock out commands and sensors, for a gain the numbers below no
  longer need; a DuckDB connection held across sends breaks DESIGN §3.

``python bench/bench_sms.py`` (100,000 messages, throttle off, counters every 25), two runs
on the shared 2-core machine (load 2-8 from other jobs): outbox 894-1,245 messages/s over the
whole run, 1,399-1,889/s of engine overhead (the run less the time inside ``send``: the
outbox's fsync per line); loopback fake Twilio 633-745/s, 1,627-1,968/s of engine overhead;
an in-process provider 927-2,131/s; a pause stopped each within 7 messages. Old and new
side by side on 20,000 in-process messages: 0.20 of the previous runner's time.

Exactly once across a SIGKILL rests on the journal and reconciliation, not on the record:
before each 25 messages are sent, their keys are written to the journal and fsynced; each
outcome is journalled after the provider answers. A killed run leaves its
batch ``sending``: its journal's outcomes are recorded as they were, the message in flight
(tried, no outcome) is looked up with ``find_sent``, the rest goes back to ``queued``.

Every ``status_check_every`` (10) messages the runner reads three small files beside the
warehouse (``SmsStore.marker_folder``): a pause or cancel under way (``<name>.request``), the
committed status (``<name>.status``) and the suppressions' stamp (when it moved, the batch's
remaining numbers are looked up in the warehouse). Hence a pause or cancel stops the run
within 10 further sends, nothing is sent after Completed or Cancelled (only Active campaigns
are claimed from), a suppression committed during a run holds within 10 sends and at every
claim, in every campaign (a provider's 21610 is suppressed at the next progress unit), and
the counters move at least every ``progress_every`` (25) messages and at the end of the run.
A batch lasts at most half the claims' LEASE (a slow throttle claims fewer rows; a slow
provider ends the batch early), so no other runner takes it over while it is sent.

Per message: quiet hours in the recipient's zone (the first recipient outside the window
stops the run with the window's next opening; the batch's rest goes back to ``queued``); the
throttles; the message rendered (a MessageError fails that row); the send. ``SmsRefused``
fails the row, or suppresses it and the number for good (21610); ``SmsProviderDown`` puts the
message (unless ``maybe_taken``: it stays ``sending`` for reconciliation, and the journal is
kept) and the rest back to ``queued`` and stops the run (``provider_down``). Any other error
records the batch's outcomes, leaves the message in flight ``sending`` and is raised.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import polars as pl

from campaign_pipelines.adapters.sms.protocol import SmsProvider, SmsProviderDown, SmsRefused
from campaign_pipelines.adapters.sms_journal import Journal
from campaign_pipelines.adapters.sms_reconcile import reconcile
from campaign_pipelines.adapters.sms_run import (
    Run,
    RunReport,
    Stop,
    frame,
    released,
    short,
)
from campaign_pipelines.adapters.sms_run import dry_run as _dry_run
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.sms_store_sending import LEASE, no_results
from campaign_pipelines.core.sms import lifecycle
from campaign_pipelines.core.sms.ledger import PROGRESS_EVERY, STATUS_CHECK_EVERY, is_checkpoint
from campaign_pipelines.core.sms.lifecycle import Command, Status
from campaign_pipelines.core.sms.quiet_hours import QuietHours
from campaign_pipelines.core.sms.template import DEFAULT_MAX_SEGMENTS, MessageError
from campaign_pipelines.core.sms.throttle import TokenBucket

BATCH = 500
_RENEW = "renew"  # the batch is half its lease old: recorded, and the next one claimed


def run_campaign(store: SmsStore, provider: SmsProvider, campaign_name: str, *,
                 now: datetime, limit: int | None = None, dry_run: bool = False,
                 quiet_hours: QuietHours | None, throttle: TokenBucket | None = None,
                 status_check_every: int = STATUS_CHECK_EVERY,
                 progress_every: int = PROGRESS_EVERY, batch: int = BATCH, stop_hint: str,
                 max_segments: int = DEFAULT_MAX_SEGMENTS, status_callback: str | None = None,
                 log: Callable[[str], None] = print,
                 clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> RunReport:
    """Sends the campaign's queued messages as the module says; ``now`` is the run's start
    and ``clock`` the time during it (default: ``now`` plus the time elapsed); ``sleep`` and
    ``monotonic`` drive the throttles and the batch's age (tests pass a fake pair)."""
    campaign = store.campaign(campaign_name)
    if campaign is None:
        store.status(campaign_name)  # raises the ProblemsError naming the campaign
        raise AssertionError("unreachable")
    started = time.monotonic()
    run = Run(store, provider, campaign, RunReport(campaign_name),
              clock or (lambda: now + timedelta(seconds=time.monotonic() - started)), sleep,
              monotonic, quiet_hours, [], stop_hint, max_segments, status_callback, log)
    if dry_run:
        return _dry_run(run)
    if throttle is not None:
        run.buckets.append(throttle)
    if campaign["throttle_per_second"]:
        run.buckets.append(TokenBucket(campaign["throttle_per_second"], clock=monotonic))
    reconcile(run)
    sender = _Sender(run, Journal(store.journal_folder, campaign_name, run.claimer),
                     max(1, status_check_every), max(1, progress_every))
    results, recorded = no_results(), False
    try:
        results = _send_batches(run, sender, limit, max(1, batch))
    finally:
        try:
            finished = store.finish(campaign_name, results, claimer=run.claimer,
                                    now=run.clock())
            recorded = True
        finally:  # kept while a row of this run may be with the provider, unrecorded
            sender.journal.close(keep=sender.in_doubt or not recorded)
        run.report.status = finished.status
        run.report.left_queued = finished.states.get("queued", 0)
        if run.report.stopped_because is None:  # an error went up
            run.report.stopped_because = Stop.PROVIDER_DOWN
    if finished.status == Status.COMPLETED and run.report.stopped_because in (
            Stop.OTHERS_SENDING, Stop.LIMIT):
        run.report.stopped_because = Stop.COMPLETED
    report = run.report
    log(f"sms {campaign_name}: sent {report.sent}, failed {report.failed}, "
        f"suppressed {report.suppressed}, {report.left_queued} left queued; "
        f"stopped: {report.stopped_because}; status {finished.status}")
    return report


def _send_batches(run: Run, sender: _Sender, limit: int | None, batch: int) -> pl.DataFrame:
    """Batches until a stop; the last batch's outcomes, for ``finish`` to record."""
    results, report = no_results(), run.report
    # A slow throttle must not let a batch outlive its claims' lease (another runner would
    # take them over): a batch lasts at most half the lease.
    rates = [bucket.rate for bucket in run.buckets if bucket.rate is not None]
    size = min([batch] + [max(1, int(rate * LEASE.total_seconds() / 2)) for rate in rates])
    while True:
        room = size if limit is None else min(size, limit - report.attempted)
        run.stamp = run.store.suppressions_stamp()  # a change after this is seen mid-batch
        step = run.store.step(run.name, results, claimer=run.claimer, claim=max(room, 0),
                              now=run.clock(), write_counters=results.height > 0)
        results = no_results()
        report.suppressed += step.suppressed
        if (stop := _stop_before_batch(step.status, step.end_at, run.clock())) is not None:
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
        results = sender.send(step.rows)
        if report.stopped_because is not None:
            return results


def _stop_before_batch(status: Status, end_at: datetime | None, now: datetime
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


class _Sender:
    """Sends one claimed batch at a time (the module's per-message rules)."""

    def __init__(self, run: Run, journal: Journal, check_every: int, progress_every: int):
        self.run, self.journal = run, journal
        self.check_every, self.progress_every = check_every, progress_every
        self.in_doubt = False  # a message may be with the provider and is left ``sending``

    def send(self, rows: pl.DataFrame) -> pl.DataFrame:
        run, report = self.run, self.run.report
        claimed, outcomes = rows.to_dicts(), list[dict]()
        blocked: dict[str, str] = {}
        born = run.monotonic()
        for index, row in enumerate(claimed):
            if is_checkpoint(index, self.check_every) and (
                    stop := self._check(claimed[index:], blocked, born)) is not None:
                if stop != _RENEW:
                    report.stopped_because = Stop(stop)
                return frame(outcomes + released(claimed[index:], None))
            if index % self.progress_every == 0:
                self.journal.trying([r["idempotency_key"]
                                     for r in claimed[index:index + self.progress_every]])
            if row["phone_e164"] in blocked:
                outcome = released([row], None)[0] | {"state": "suppressed", "last_error":
                          f"the number is suppressed ({blocked[row['phone_e164']]})"}
                report.suppressed += 1
            elif (opening := run.closed_until(row["phone_e164"], run.clock())) is not None:
                report.stopped_because, report.next_opening = Stop.QUIET_HOURS, opening
                return frame(outcomes + released(claimed[index:], None))
            elif (answered := self._send_one(row, outcomes, claimed[index + 1:])) is None:
                return frame(outcomes)  # the provider is down: the rest is in ``outcomes``
            else:
                outcome = answered
            outcomes.append(outcome)
            self.journal.outcome(outcome)
            if is_checkpoint(len(outcomes), self.progress_every) and index + 1 < len(claimed):
                self._progress(outcomes)
        return frame(outcomes)

    def _progress(self, outcomes: list[dict]) -> None:
        """The counters with the batch's outcomes so far counted in, and the 21610 refusals
        since the last progress unit (the last ``progress_every`` outcomes) suppressed."""
        run = self.run
        opted_out = [outcome for outcome in outcomes[-self.progress_every:]
                     if outcome["suppress_reason"] is not None]
        run.store.progress(run.name, Counter(outcome["state"] for outcome in outcomes),
                           frame(opted_out), now=run.clock())

    def _check(self, rest: list[dict], blocked: dict[str, str], born: float) -> str | None:
        """A pause or cancel under way, the status marker, the suppressions when their
        stamp moved, and the batch's age."""
        run = self.run
        request = run.store.stop_request(run.name)
        if request is not None:
            return Stop.PAUSED if request == Command.PAUSE else Stop.CANCELLED
        status = run.store.status_marker(run.name)
        if status is not None and (stop := _stop_before_batch(status, None, run.clock())):
            return stop
        if run.monotonic() - born > LEASE.total_seconds() / 2:
            return _RENEW
        stamp = run.store.suppressions_stamp()
        if stamp != run.stamp:
            run.stamp = stamp
            blocked.update(run.store.suppressed_among([row["phone_e164"] for row in rest]))
        return None

    def _send_one(self, row: dict, outcomes: list[dict], rest: list[dict]) -> dict | None:
        """The message's outcome; None when the provider is down (``outcomes`` then holds
        the rest put back to ``queued``)."""
        run, report = self.run, self.run.report
        outcome = released([row], None)[0]
        for bucket in run.buckets:
            bucket.send_when_allowed(run.sleep)
        report.attempted += 1
        try:
            accepted = run.provider.send(run.message(row))
        except MessageError as error:
            report.failed += 1
            return outcome | {"state": "failed", "last_error": short(error)}
        except SmsRefused as error:
            report.suppressed += error.suppressed
            report.failed += not error.suppressed
            return outcome | {"state": "suppressed" if error.suppressed else "failed",
                              "last_error": short(error),
                              "suppress_reason": "provider_21610" if error.suppressed else None}
        except SmsProviderDown as error:
            down = f"{run.provider.name} is down: {short(error)}"
            report.errors.append(down)
            report.stopped_because = Stop.PROVIDER_DOWN
            run.log(down)
            self.in_doubt = error.maybe_taken  # the provider may hold it: left ``sending``
            outcomes.extend(released(rest if error.maybe_taken else [row, *rest], down))
            return None
        except BaseException:
            # The outcome of this one is unknown: it stays ``sending`` for reconciliation.
            self.in_doubt = True
            run.store.step(run.name, frame(outcomes + released(rest, None)),
                           claimer=run.claimer, claim=0, now=run.clock())
            report.stopped_because = Stop.PROVIDER_DOWN
            raise
        report.sent += 1
        return outcome | {"state": "sent", "provider_message_id": accepted.provider_message_id,
                          "sent_at": run.clock()}
