"""`campaigns sms ...`: the SMS campaign commands (wired into cli.py by ``add_sms_commands``).

    campaigns sms create FILE            parse and store a campaign file (JSON answer)
    campaigns sms list                   every campaign: status, start, counters (JSON)
    campaigns sms show NAME              one campaign: status, counters, rates, last run
    campaigns sms run [--campaign NAME] [--dry-run] [--limit N] [--now ISO]
                                         start what is due and send (a Dagster run of
                                         sms_runner_job, recorded like the schedule's)
    campaigns sms pause|resume|cancel NAME
                                         the status change, or exit 2 naming the status

``admit_pending`` is what ``campaigns run-pending`` does for landing/sms and
landing/sms_events: the sensors' own ticks, here and now (cli_pending.py).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from campaign_pipelines.cli_pending import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED

SHOWN = ("name", "status", "sender", "start_at", "end_at", "throttle_per_second",
         "prospects_kind", "prospects_value", "version", "total_queued", "sent", "delivered",
         "failed", "suppressed", "replies", "opt_outs", "delivery_rate", "opt_out_rate",
         "invalid_numbers", "duplicate_numbers", "created_at", "activated_at", "paused_at",
         "completed_at", "cancelled_at", "last_run_at", "last_run_result")
LISTED = ("name", "status", "start_at", "end_at", "total_queued", "sent", "delivered", "failed",
          "opt_outs", "last_run_at", "last_run_result")
RUNNER_STEP = "sms__sends"


def _location():
    from campaign_pipelines.service import open_location

    return open_location()


def _print_json(body: object) -> None:
    from campaign_pipelines.responses import print_json

    print_json(body)


def _store(location):
    from campaign_pipelines.defs.resources import sms_store

    return sms_store(location.warehouse)


def _shown(campaign: dict, fields: tuple[str, ...]) -> dict:
    return {name: campaign[name].isoformat() if isinstance(campaign[name], datetime)
            else campaign[name] for name in fields}


def cmd_create(args: argparse.Namespace) -> int:
    from campaign_pipelines.core.problems import ProblemsError
    from campaign_pipelines.defs.sms.sensors import read_campaign_file

    path = Path(args.file)
    if not path.is_file():
        _print_json({"success": False, "message": f"{path} does not exist: give a campaign "
                     "file (.yaml or .json)"})
        return EXIT_BAD_INPUT
    location, now = _location(), datetime.now(UTC)
    try:
        parsed = read_campaign_file(path, location.campaign_data.uploads_dir(),
                                    location.resource("sms"), now)
        outcome = _store(location).put_campaign(parsed, now)
    except ProblemsError as error:
        _print_json({"success": False, "file": str(path), "errors": error.problems,
                     "message": f"{path.name}: the campaign cannot be stored: {error}"})
        return EXIT_BAD_INPUT
    campaign = _store(location).campaign(parsed.campaign.name) or {}
    _print_json({"success": True, "name": parsed.campaign.name, "outcome": outcome,
                 "status": campaign.get("status"), "version": parsed.version,
                 "start_at": parsed.campaign.start_at.isoformat(),
                 "sample": parsed.sample.text, "segments": parsed.sample.count.describe,
                 "notes": parsed.notes})
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    campaigns = _store(_location()).campaigns()
    _print_json({"campaigns": [_shown(c, LISTED) for c in campaigns.iter_rows(named=True)]})
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    campaign = _store(_location()).campaign(args.name)
    if campaign is None:
        _print_json({"success": False, "message": f"no SMS campaign {args.name!r}: check the "
                     "name with `campaigns sms list`"})
        return EXIT_BAD_INPUT
    _print_json(_shown(campaign, SHOWN))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from campaign_pipelines.defs.sms.runner import parse_as_of
    from campaign_pipelines.responses import run_report
    from campaign_pipelines.service import run_job

    if args.now:
        try:
            parse_as_of(args.now)
        except ValueError as error:
            _print_json({"success": False, "message": f"--now {error}"})
            return EXIT_BAD_INPUT
    if args.limit is not None and args.limit < 1:
        _print_json({"success": False, "message": "--limit takes a number of messages, 1 or "
                     "more"})
        return EXIT_BAD_INPUT
    config = {"campaign": args.campaign or "", "dry_run": args.dry_run,
              "limit": args.limit or 0, "now": args.now or ""}
    result = run_job(_location(), "sms_runner_job",
                     run_config={"ops": {RUNNER_STEP: {"config": config}}})
    _print_json(run_report(result, RUNNER_STEP))
    return EXIT_OK if result.success else EXIT_RUN_FAILED


def cmd_command(args: argparse.Namespace) -> int:
    from campaign_pipelines.core.problems import ProblemsError
    from campaign_pipelines.core.sms.lifecycle import TransitionError

    try:
        before, after = _store(_location()).apply_command(args.name, args.sms,
                                                          datetime.now(UTC))
    except TransitionError as error:
        _print_json({"success": False, "name": args.name, "status": error.status.value,
                     "errors": error.problems, "message": str(error)})
        return EXIT_BAD_INPUT
    except ProblemsError as error:
        _print_json({"success": False, "name": args.name, "errors": error.problems,
                     "message": str(error)})
        return EXIT_BAD_INPUT
    changed = f"{before.value} → {after.value}" if after != before else f"already {after.value}"
    _print_json({"success": True, "name": args.name, "command": args.sms,
                 "status_before": before.value, "status": after.value, "message": changed})
    return EXIT_OK


def admit_pending(location, dry_run: bool = False) -> int:
    """The SMS sensors' own ticks (``campaign_answers``, ``event_answers``), here and now:
    every ready file of landing/sms in one run of sms_campaign_admission_job, then those of
    landing/sms_events in one run of sms_events_job."""
    from campaign_pipelines.cli_pending import Pending, run_pending
    from campaign_pipelines.defs.sms import sensors

    sms = location.resource("sms")
    campaigns = Pending("sms campaigns", "SMS campaign file", (sensors.CAMPAIGN_KIND,),
                        sensors.CAMPAIGN_SUFFIXES, "sms_campaign_admission_job",
                        archived="already stored")
    events = Pending("sms events", "SMS event file", (sensors.EVENT_KIND,),
                     sensors.EVENT_SUFFIXES, "sms_events_job", archived="already applied")
    worst = run_pending(location, campaigns, lambda context: sensors.campaign_answers(
        context, location.campaign_data, sms), _report("sms__campaigns", "campaigns"), dry_run)
    return max(worst, run_pending(location, events, lambda context: sensors.event_answers(
        context, location.campaign_data), _report("sms__events", "outcomes"), dry_run))


def _report(node: str, shown: str):
    def report(request, result) -> int:
        from campaign_pipelines.defs.sms.sensors import FILES_TAG
        from campaign_pipelines.responses import failure_messages, materialization_metadata

        meta = materialization_metadata(result, node)
        print(f"== {node.replace('__', '/')}: {request.tags[FILES_TAG]} file(s): "
              f"{'ok' if result.success else 'FAILED'} (run {result.run_id})")
        found = meta.get(shown) or []
        for item in found if isinstance(found, list) else [found]:
            print("   " + _said(item))
        for message in ([] if result.success else failure_messages(result)):
            print(f"   - {message}")
        if not result.success:
            return EXIT_RUN_FAILED
        refused = isinstance(found, list) and any(i.get("outcome") == "refused" for i in found)
        return EXIT_BAD_INPUT if refused else EXIT_OK

    return report


def _said(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    if "file" not in item:  # outcome counts
        return "outcomes: " + (", ".join(f"{k} {v}" for k, v in item.items()) or "none")
    said = f"{item['file']}: {item['outcome']}"
    if "campaign" in item:
        said += f" (campaign {item['campaign']}, starts {item['start_at']})"
    if "error_file" in item:
        said += f" → rejected/{item['error_file']}: {item['problem']}"
    return said


def add_sms_commands(subparsers) -> None:
    sms = subparsers.add_parser("sms", help="SMS campaigns: create, list, show, run, pause, "
                                "resume, cancel")
    sub = sms.add_subparsers(dest="sms", required=True)
    create = sub.add_parser("create", help="store a campaign file (Scheduled)")
    create.add_argument("file")
    create.set_defaults(run=cmd_create)
    sub.add_parser("list", help="every SMS campaign (JSON)").set_defaults(run=cmd_list)
    show = sub.add_parser("show", help="one campaign: status, counters, last run (JSON)")
    show.add_argument("name")
    show.set_defaults(run=cmd_show)
    run = sub.add_parser("run", help="start what is due and send now (a Dagster run)")
    run.add_argument("--campaign", help="only this campaign")
    run.add_argument("--dry-run", action="store_true", help="render and count, send nothing")
    run.add_argument("--limit", type=int, help="at most this many messages")
    run.add_argument("--now", help="ISO time to run as of (runs the clock forward)")
    run.set_defaults(run=cmd_run)
    for name, said in (("pause", "stop sending within 10 messages"),
                       ("resume", "send the rest"), ("cancel", "never send again")):
        command = sub.add_parser(name, help=said)
        command.add_argument("name")
        command.set_defaults(run=cmd_command)
