"""`campaigns sequences ...`: the e-mail sequence commands (wired into cli.py by
``add_sequence_commands``).

    campaigns sequences status EMAIL               segment, enrollment, the seven planned sends
    campaigns sequences send-due [--now ISO] [--dry-run]
                                                   send what is due (a Dagster run of
                                                   send_due_emails_job); --now runs the clock
                                                   forward; --dry-run lists it, sends nothing
    campaigns sequences cancel EMAIL               no further e-mail for that address

``admit_pending`` is what ``campaigns run-pending`` does for landing/signups and
landing/unsubscribes: the sensor's answer, here and now (one run of sequence_admission_job for
every ready file; a file that cannot be read at all is rejected).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _location():
    from campaign_pipelines.service import open_location

    return open_location()


def _print_json(body: object) -> None:
    from campaign_pipelines.responses import print_json

    print_json(body)


def _store(location):
    from campaign_pipelines.defs.resources import sequence_store

    return sequence_store(location.warehouse, location.campaign_data)


def _key(email: str) -> str:
    from campaign_pipelines.core.sequences.signups import address_key

    return address_key(email)


def cmd_status(args: argparse.Namespace) -> int:
    import polars as pl

    from campaign_pipelines.adapters.sequence_store import ENROLLMENTS, LEDGER, SUPPRESSIONS
    from campaign_pipelines.core.sequences.plan import planned_sends

    store = _store(_location())
    key = _key(args.email)
    enrollments = store.table(ENROLLMENTS, key)
    ledger = store.table(LEDGER, key)
    suppressed = store.table(SUPPRESSIONS, key)
    if enrollments.height == 0:
        _print_json({"address": key, "enrolled": False,
                     "suppressed": suppressed.height > 0,
                     "message": "no enrollment for this address"})
        return EXIT_BAD_INPUT
    body = [{"sequence": e["sequence"], "segment": e["segment"], "status": e["status"],
             "enrolled_at": e["enrolled_at"].isoformat(), "timing": e["timing"],
             "alert": e["alert_state"],
             "sends": planned_sends(ledger.filter(pl.col("enrollment_id") == e["enrollment_id"]))}
            for e in enrollments.iter_rows(named=True)]
    _print_json({"address": key, "suppressed": suppressed.height > 0, "enrollments": body})
    return EXIT_OK


def _now(text: str | None) -> datetime | None:
    if not text:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_send_due(args: argparse.Namespace) -> int:
    from campaign_pipelines.core.masking import masked
    from campaign_pipelines.core.sequences.plan import due_now

    try:
        now = _now(args.now)
    except ValueError:
        _print_json({"success": False, "message": f"--now {args.now!r}: give an ISO time, "
                     "e.g. 2026-12-01T09:07:00+00:00 (UTC when no offset is given)"})
        return EXIT_BAD_INPUT
    location = _location()
    if args.dry_run:
        at = now or datetime.now(UTC)
        due = _store(location).preview_due(at, due_now)
        _print_json({"dry_run": True, "now": at.isoformat(), "would_send": [
            {"address": masked(r["address_key"]), "email": r["email_number"],
             "due_at": r["due_at"].isoformat(), "segment": r["segment"]}
            for r in due.send.iter_rows(named=True)],
            "would_suppress": due.suppress.height, "would_give_up": due.give_up.height})
        return EXIT_OK
    from campaign_pipelines.responses import run_report
    from campaign_pipelines.service import run_job

    config = {"ops": {"sequences__email_sequences": {"config": {
        "now": now.isoformat() if now else ""}}}}
    result = run_job(location, "send_due_emails_job", run_config=config)
    _print_json(run_report(result, "sequences__email_sequences"))
    return EXIT_OK if result.success else EXIT_RUN_FAILED


def cmd_cancel(args: argparse.Namespace) -> int:
    key = _key(args.email)
    cancelled = _store(_location()).cancel(key, datetime.now(UTC))
    _print_json({"address": key, "cancelled_enrollments": cancelled,
                 "message": "no further e-mail of its sequences" if cancelled
                 else "no active enrollment for this address"})
    return EXIT_OK if cancelled else EXIT_BAD_INPUT


def admit_pending(location, dry_run: bool = False) -> int:
    """``sequence_arrivals_sensor``'s own tick (``sequence_answers``), here and now, through
    cli_pending.py: every ready file of both folders in one run of sequence_admission_job."""
    from campaign_pipelines.cli_pending import Pending, run_pending
    from campaign_pipelines.defs.sequences.sensors import KINDS, SUFFIXES, sequence_answers

    pending = Pending("sequences", "signup or unsubscribe", tuple(KINDS), SUFFIXES,
                      "sequence_admission_job", archived="already built")
    sequences = location.resource("sequences")
    return run_pending(location, pending,
                       lambda context: sequence_answers(context, location.campaign_data,
                                                        sequences),
                       _admission_report, dry_run)


def _admission_report(request, result) -> int:
    from campaign_pipelines.defs.sequences.sensors import FILES_TAG
    from campaign_pipelines.responses import failure_messages, materialization_metadata

    meta = materialization_metadata(result, "sequences__enrollments")
    print(f"== sequences: {request.tags[FILES_TAG]} file(s): "
          f"{'ok' if result.success else 'FAILED'}")
    for name in ("enrolled_now", "duplicates_now", "enrolled_now_per_segment"):
        if name in meta:
            print(f"   {name:<26}{meta[name]}")
    for message in ([] if result.success else failure_messages(result)):
        print(f"   - {message}")
    return EXIT_OK if result.success else EXIT_RUN_FAILED


def add_sequence_commands(subparsers) -> None:
    sequences = subparsers.add_parser("sequences", help="e-mail sequences: status, send, cancel")
    sub = sequences.add_subparsers(dest="sequences", required=True)
    status = sub.add_parser("status", help="an address's enrollment and its seven sends (JSON)")
    status.add_argument("email")
    status.set_defaults(run=cmd_status)
    send = sub.add_parser("send-due", help="send every due e-mail now (a Dagster run)")
    send.add_argument("--now", help="ISO time to send as of (runs the clock forward)")
    send.add_argument("--dry-run", action="store_true", help="list what is due, send nothing")
    send.set_defaults(run=cmd_send_due)
    cancel = sub.add_parser("cancel", help="no further e-mail for an address")
    cancel.add_argument("email")
    cancel.set_defaults(run=cmd_cancel)
