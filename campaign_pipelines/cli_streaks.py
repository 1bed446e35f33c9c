"""`campaigns streaks ...`: the streak commands (wired into cli.py by ``add_streak_commands``).

    campaigns streaks run                          the daily batch now (Dagster run)
    campaigns streaks assign FILE                  apply a user_id,streak CSV (Dagster run)
    campaigns streaks register --name N --id I --type T --banner B --subtitle S [--next C]
                                                   validate; print what would be posted;
                                                   --confirm posts it
    campaigns streaks simulate --config NEW.yaml   who would move where under NEW vs current

``register`` and ``simulate`` read the journey config outside any Dagster step, so their GETs
are retried by ``with_get_retries`` (3 attempts); ``run`` and ``assign`` read it inside their
run's steps, where the step's RetryPolicy retries. The POST of ``register --confirm`` is sent
once.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2
def _location():
    from campaign_pipelines.service import open_location  # one way to load defs + instance

    return open_location()


def _print_json(body: object) -> None:
    from campaign_pipelines.responses import print_json

    print_json(body)


def _execute(location, job_name: str, run_config: dict | None = None, tags: dict | None = None):
    from campaign_pipelines.service import run_job

    return run_job(location, job_name, tags=tags, run_config=run_config)


def _report(result, node: str) -> int:
    from campaign_pipelines.responses import run_report

    _print_json(run_report(result, node))
    return EXIT_OK if result.success else EXIT_RUN_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    return _report(_execute(_location(), "streaks_daily_job"), "streaks__assignments")


def cmd_assign(args: argparse.Namespace) -> int:
    from campaign_pipelines.defs.streaks.sensors import run_config_for

    path = Path(args.file).resolve()
    if not path.is_file():
        _print_json({"success": False, "message": f"{path} does not exist: give a CSV file "
                     "with header user_id,streak"})
        return EXIT_BAD_INPUT
    result = _execute(_location(), "streak_manual_assignment_job", run_config_for(str(path)),
                      tags={"streaks/assignment_file": path.name})
    return _report(result, "streaks__manual_assignments")


def cmd_register(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from campaign_pipelines.adapters.journey_config import (
        ConfigServiceError,
        registration_body,
        with_get_retries,
    )
    from campaign_pipelines.core.streaks.chains import registration_findings, with_campaign
    from campaign_pipelines.core.streaks.config import Campaign

    resource = _location().journey_config
    store = resource.store()
    try:
        campaign = Campaign(name=args.name, id=args.id, type=args.type, banner=args.banner,
                            subtitle=args.subtitle, next=args.next, kind="experiment")
        existing = with_get_retries(store.load)
    except ValidationError as error:
        _print_json({"success": False, "errors": [
            {"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in error.errors()]})
        return EXIT_BAD_INPUT
    except (ConfigServiceError, ValueError) as error:
        _print_json({"success": False, "message": str(error)})
        return EXIT_RUN_FAILED
    findings = registration_findings(existing, campaign)
    errors = [f.as_dict() for f in findings if f.level == "error"]
    warnings = [f.as_dict() for f in findings if f.level == "warning"]
    if errors:
        _print_json({"success": False, "errors": errors, "warnings": warnings,
                     "existing_campaigns": existing.campaign_names()})
        return EXIT_BAD_INPUT
    proposed = with_campaign(existing, campaign)
    body = registration_body(existing, campaign, proposed)
    if not args.confirm:
        _print_json({"dry_run": True, "target": store.describe(), "would_post": body,
                     "warnings": warnings, "message": "nothing sent; add --confirm to post"})
        return EXIT_OK
    try:
        answer = store.register(existing, campaign, proposed)
    except ConfigServiceError as error:
        _print_json({"success": False, "message": str(error)})
        return EXIT_RUN_FAILED
    _print_json({"success": True, "target": store.describe(), "posted": body,
                 "answer": answer, "warnings": warnings})
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    import polars as pl

    from campaign_pipelines.adapters.journey_config import (
        ConfigServiceError,
        load_config_file,
        with_get_retries,
    )
    from campaign_pipelines.core.streaks.config import ConfigError
    from campaign_pipelines.core.streaks.eligibility import batch_eligibility
    from campaign_pipelines.core.streaks.engine import RunStamp
    from campaign_pipelines.core.streaks.lint import lint
    from campaign_pipelines.core.streaks.simulate import simulate
    from campaign_pipelines.defs.resources import streak_store

    location = _location()
    resource = location.journey_config
    try:
        current, _ = with_get_retries(resource.load)
        proposed = load_config_file(Path(args.config))
    except (ConfigError, ConfigServiceError) as error:
        print(str(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    findings = lint(proposed, resource.target_backend)
    for finding in findings:
        print(f"{finding.level}: {finding.field}: {finding.problem} (fix: {finding.fix})")
    if any(f.level == "error" for f in findings):
        return EXIT_BAD_INPUT
    store = streak_store(location.warehouse)
    activity = store.read_activity()
    state = store.read_state()
    run = RunStamp(run_id="simulation", at=datetime.now(UTC))
    table, summary = simulate(state, activity, batch_eligibility(activity), current, proposed,
                              run)
    with pl.Config(tbl_rows=60, fmt_str_lengths=40, tbl_width_chars=160):
        print(table)
    _print_json(summary)
    return EXIT_OK


def add_streak_commands(subparsers) -> None:
    streaks = subparsers.add_parser("streaks", help="streak campaigns: assign, register, simulate")
    sub = streaks.add_subparsers(dest="streaks", required=True)
    sub.add_parser("run", help="run the daily batch now").set_defaults(run=cmd_run)
    assign = sub.add_parser("assign", help="apply a user_id,streak CSV of manual moves")
    assign.add_argument("file")
    assign.set_defaults(run=cmd_assign)
    register = sub.add_parser("register", help="register an experiment campaign (dry run)")
    for option in ("--name", "--id", "--type", "--banner", "--subtitle"):
        register.add_argument(option, required=True)
    register.add_argument("--next", default=None, help="chain successor (a campaign or NA)")
    register.add_argument("--confirm", action="store_true", help="post it (default: dry run)")
    register.set_defaults(run=cmd_register)
    sim = sub.add_parser("simulate", help="compare a proposed journey config with the current")
    sim.add_argument("--config", required=True, help="the proposed journey config YAML")
    sim.set_defaults(run=cmd_simulate)
