"""`campaigns`: the command line of campaign_pipelines.

campaigns demo-data [--customers N]     synthetic bank + sample uploads and requests
campaigns db init                       schemas and reference-source tables (DuckDB)
campaigns db check                      existing tables against the DDL (exit 2 on a difference)
campaigns reference refresh             extract the reference datasets (Dagster run)
campaigns create FILE [--dry-run]       build (and deploy) one campaign, print the response
campaigns run-pending [--dry-run]       do what the sensors do, for every pending landing file
(--dry-run builds audiences only and leaves landing files pending; `campaigns -h` lists all)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from campaign_pipelines.cli_commands import apply_pending
from campaign_pipelines.cli_metrics import add_metrics_commands
from campaign_pipelines.cli_sequences import add_sequence_commands, admit_pending
from campaign_pipelines.cli_sms import add_sms_commands
from campaign_pipelines.cli_sms import admit_pending as admit_sms_pending
from campaign_pipelines.cli_streaks import add_streak_commands
from campaign_pipelines.core.requests import RequestError

EXIT_BAD_REQUEST, EXIT_RUN_FAILED = 2, 1


def _location():
    from campaign_pipelines.service import open_location

    return open_location()


def _print_json(body: dict) -> None:
    from campaign_pipelines.responses import print_json

    print_json(body)


def cmd_demo_data(args: argparse.Namespace) -> int:
    from campaign_pipelines.defs.settings import read_settings
    from campaign_pipelines.demo.build import build_demo
    from campaign_pipelines.demo.signups import write_demo_signups
    from campaign_pipelines.demo.sms import write_demo_sms
    from campaign_pipelines.demo.user_activity import write_user_activity

    bank = build_demo(read_settings().data_dir, customers=args.customers, seed=args.seed)
    users = args.users if args.users is not None else args.customers
    activity = write_user_activity(Path(bank["warehouse"]), users=users, seed=args.seed)
    signups = write_demo_signups(read_settings().data_dir)
    sms = write_demo_sms(read_settings().data_dir, Path(bank["warehouse"]))
    _print_json({**bank, "streaks": activity, "sequences": signups, "sms": sms})
    return 0


def cmd_db_init(args: argparse.Namespace) -> int:
    from campaign_pipelines.adapters.warehouse.oracle_schema import SchemaMismatchError

    location = _location()
    try:
        location.deployment().init_schema()
        location.deployment().init_kpi_table()  # metrics/daily_kpis' table
    except SchemaMismatchError as error:  # one line per difference, not joined like others
        print(f"campaigns db init: {error}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    print(f"schemas and tables ready in {location.warehouse.adapter().describe()}")
    return 0


def cmd_db_ddl(args: argparse.Namespace) -> int:
    from campaign_pipelines.adapters.warehouse.ddl import WAREHOUSE_TABLES, create_statements

    for table in WAREHOUSE_TABLES:
        for statement in create_statements(table, args.dialect):
            print(statement + ";\n")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    """Every table's columns against `db ddl`'s; creates nothing. Exit 2 on a difference."""
    from campaign_pipelines.adapters.warehouse import oracle_schema as schema
    from campaign_pipelines.adapters.warehouse.ddl import WAREHOUSE_TABLES
    from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse

    warehouse = _location().warehouse.adapter()
    if isinstance(warehouse, OracleWarehouse):
        reports = OracleDeployment(warehouse).check_schema(WAREHOUSE_TABLES)
    else:
        with warehouse.connect() as connection:
            reports = [
                schema.compare(table, map(schema.duckdb_column, connection.execute(
                    schema.DUCKDB_COLUMNS, {"schema": table.schema, "table_name": table.name}
                ).fetchall()), "duckdb")
                for table in WAREHOUSE_TABLES
            ]
    if any(report.differences for report in reports):
        print(str(schema.SchemaMismatchError(reports, warehouse.describe())), file=sys.stderr)
        return EXIT_BAD_REQUEST
    if details := schema.render(reports):
        print(details, file=sys.stderr)
    print(f"{len(reports)} tables match the DDL in {warehouse.describe()}")
    return 0


def cmd_reference_refresh(args: argparse.Namespace) -> int:
    from campaign_pipelines.responses import failure_messages
    from campaign_pipelines.service import run_job

    result = run_job(_location(), "reference_refresh_job")
    if not result.success:
        print("\n".join(failure_messages(result)), file=sys.stderr)
        return EXIT_RUN_FAILED
    print(f"reference datasets refreshed (run {result.run_id})")
    return 0


def _create(location, path: Path, dry_run: bool, replace: bool = False) -> tuple[int, dict]:
    from campaign_pipelines.responses import audience_response, campaign_response
    from campaign_pipelines.runs import say_on_stderr
    from campaign_pipelines.service import InFlight, prepare_campaign_run, register, run_job

    try:
        prepare_campaign_run(location, path, say_on_stderr)
        registered = register(location, path, dry_run=dry_run, replace=replace)
    except RequestError as error:
        return EXIT_BAD_REQUEST, {
            "success": False,
            "file": str(path),
            "errors": error.problems,
            "message": f"{path.name}: the request cannot run: {error}",
        }
    except InFlight as error:
        return EXIT_BAD_REQUEST, {"success": False, "file": str(path), "message": str(error)}
    admitted = registered.admitted
    job = "audience_job" if dry_run else "campaign_job"
    result = run_job(
        location, job, admitted.key, tags=registered.tags, run_config=registered.run_config
    )
    respond = audience_response if dry_run else campaign_response
    body = respond(admitted.key, admitted.request, result)
    body["request_version"] = admitted.version
    body["admitted_as"] = admitted.outcome.value
    return (0 if body["success"] else EXIT_RUN_FAILED), body


def cmd_create(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        _print_json({"success": False, "message": f"{path} does not exist: give a request file"})
        return EXIT_BAD_REQUEST
    code, body = _create(_location(), path, args.dry_run, args.replace)
    _print_json(body)
    return code


def cmd_run_pending(args: argparse.Namespace) -> int:
    """What the sensors do, here and now: every file in landing/campaigns, then
    landing/commands, then landing/signups and landing/unsubscribes, then landing/sms and
    landing/sms_events gets an answer."""
    from campaign_pipelines.service import pending_requests

    location = _location()
    worst = 0
    arrivals = pending_requests(location)
    if not arrivals:
        print("no pending request in landing/campaigns")
    for arrival in arrivals:
        if arrival.status == "waiting":
            print(f"== {arrival.name}: waiting ({arrival.reason})")
            continue
        if arrival.status == "refused":
            if not args.dry_run:
                location.campaign_data.landing().reject(
                    arrival.path, {"problems": [arrival.problem]}
                )
            print(format_funnel(arrival.name, {"success": False, "errors": [arrival.problem],
                                               "message": "refused"}))
            worst = max(worst, EXIT_BAD_REQUEST)
            continue
        if not arrival.path.exists():
            print(f"== {arrival.name}: taken by another reader (the sensor's run) meanwhile")
            continue
        code, body = _create(location, arrival.path, args.dry_run)
        print(format_funnel(arrival.name, body))
        worst = max(worst, code)
    worst = max(worst, apply_pending(location, args.dry_run))  # landing/commands
    worst = max(worst, admit_pending(location, args.dry_run))  # landing/signups, unsubscribes
    return max(worst, admit_sms_pending(location, args.dry_run))  # landing/sms, sms_events


def cmd_next_code(args: argparse.Namespace) -> int:
    from campaign_pipelines.campaign_reads import next_code_preview

    _print_json(next_code_preview(_location().deployment(), args.type))
    return 0


def _bank_today():
    from datetime import UTC, datetime

    from campaign_pipelines.core.registry import bank_date

    return bank_date(datetime.now(UTC))


def cmd_list(args: argparse.Namespace) -> int:
    from campaign_pipelines.campaign_reads import campaigns_page

    _print_json(
        campaigns_page(
            _location().deployment(),
            campaign_type=args.type,
            limit=args.limit,
            offset=args.offset,
            include_deleted=args.include_deleted,
        )
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from campaign_pipelines.campaign_reads import UnknownCampaign, campaign_shown

    try:
        _print_json(campaign_shown(_location().deployment(), args.code))
    except UnknownCampaign as unknown:
        _print_json({"success": False, "message": str(unknown)})
        return EXIT_BAD_REQUEST
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from campaign_pipelines.adapters.campaign_deletion import delete_campaign

    deletion = delete_campaign(_location().deployment(), args.code)
    if not deletion.found:
        _print_json({"success": False, "message": deletion.message})
        return EXIT_BAD_REQUEST
    _print_json(
        {
            "success": True,
            "campaign_code": deletion.campaign_code,
            "rows_removed": deletion.rows_removed,
            "outcome": deletion.outcome,
            "message": deletion.message,
        }
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from campaign_pipelines.ingress.serve import serve
    from campaign_pipelines.ingress.settings import SettingError as IngressSettingError

    try:
        return serve(args.host, args.port, args.workers)
    except IngressSettingError as error:
        print(f"campaigns serve: {error}", file=sys.stderr)
        return EXIT_BAD_REQUEST


def format_funnel(name: str, body: dict) -> str:
    from campaign_pipelines.core.audience import REPORT_ORDER

    lines = [f"== {name}: {'ok' if body['success'] else 'FAILED'}"]
    stats = body.get("filter_stats") or {}
    for step in REPORT_ORDER:
        if step in stats:
            lines.append(f"   {step:<22}{stats[step]:>12,}")
    deployment = body.get("deployment_result")
    if deployment:
        lines.append(f"   deployed to: {', '.join(deployment['tables_updated']) or 'nothing'}")
    lines.append(f"   {body.get('message', '')}")
    for error in body.get("errors", []):
        lines.append(f"   - {error['field']}: {error['problem']} (fix: {error['fix']})")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="campaigns", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo-data", help="generate the synthetic bank and sample landing files")
    demo.add_argument("--customers", type=int, default=200_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--users", type=int, help="streak users (default: as many as customers)")
    demo.set_defaults(run=cmd_demo_data)
    db = sub.add_parser("db", help="warehouse schema").add_subparsers(dest="db", required=True)
    db.add_parser("init", help="create schemas and tables").set_defaults(run=cmd_db_init)
    check = db.add_parser("check", help="compare existing tables with the DDL; create nothing")
    check.set_defaults(run=cmd_db_check)
    ddl = db.add_parser("ddl", help="print the deployment DDL")
    ddl.add_argument("--dialect", choices=["duckdb", "oracle"], default="oracle")
    ddl.set_defaults(run=cmd_db_ddl)
    ref = sub.add_parser("reference", help="reference datasets").add_subparsers(
        dest="reference", required=True
    )
    ref.add_parser("refresh", help="extract them now").set_defaults(run=cmd_reference_refresh)
    create = sub.add_parser("create", help="create a campaign from a request file")
    create.add_argument("file")
    create.add_argument("--dry-run", action="store_true", help="build the audience, deploy nothing")
    create.add_argument(
        "--replace",
        action="store_true",
        help="replace the campaign that holds this file's key, even with different content",
    )
    create.set_defaults(run=cmd_create)
    pending = sub.add_parser(
        "run-pending",
        help="process every pending request, command, signup, unsubscribe and SMS file",
    )
    pending.add_argument("--dry-run", action="store_true", help="build the audiences only")
    pending.set_defaults(run=cmd_run_pending)
    code = sub.add_parser("next-code", help="preview the next campaign codes")
    code.add_argument("type", choices=["rb1", "rb3", "RB1", "RB3"])
    code.set_defaults(run=cmd_next_code)
    listing = sub.add_parser("list", help="campaigns in the registry")
    listing.add_argument("--type", choices=["RB1", "RB3"])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--include-deleted", action="store_true")
    listing.set_defaults(run=cmd_list)
    show = sub.add_parser("show", help="one campaign")
    show.add_argument("code")
    show.set_defaults(run=cmd_show)
    delete = sub.add_parser("delete", help="remove a campaign's rows from every table")
    delete.add_argument("code")
    delete.set_defaults(run=cmd_delete)
    add_streak_commands(sub)
    add_sequence_commands(sub)
    add_sms_commands(sub)
    add_metrics_commands(sub)
    serve = sub.add_parser("serve", help="the HTTP ingress: webhooks into landing files")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    serve.set_defaults(run=cmd_serve)
    return top


def main(argv: list[str] | None = None) -> int:
    """Runs one command. A setting that is missing (exit 2), an unreachable warehouse or config
    service (exit 1) and Ctrl-C (exit 130) end in one sentence on stderr, not a traceback."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt as stop:  # run_watch.RunInterrupted says which run stopped
        from campaign_pipelines.run_watch import EXIT_INTERRUPTED

        print(f"campaigns: {str(stop) or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _outside_errors() as error:
        # Imported here, not at the top: they import Dagster (1.5 s of CPU), which `serve`,
        # `--help` and the commands that need no run would load for nothing.
        from campaign_pipelines.defs.settings import SettingError
        from campaign_pipelines.service import SettingMissing

        command = " ".join(filter(None, [args.command, getattr(args, args.command, None)]))
        print(f"campaigns {command}: {_described(error)}", file=sys.stderr)
        setting = isinstance(error, SettingMissing | SettingError)
        return EXIT_BAD_REQUEST if setting else EXIT_RUN_FAILED


def _outside_errors() -> tuple[type[BaseException], ...]:
    """What the environment, not this program, gets wrong: settings, warehouse, services."""
    import duckdb
    import oracledb

    from campaign_pipelines.adapters.journey_config import ConfigServiceError
    from campaign_pipelines.adapters.landing_errors import LandingError
    from campaign_pipelines.adapters.streak_store import StreakStoreError
    from campaign_pipelines.adapters.warehouse.duckdb_lock import WarehouseLockedError
    from campaign_pipelines.adapters.warehouse.oracle import MissingTablesError
    from campaign_pipelines.defs.settings import SettingError
    from campaign_pipelines.service import SettingMissing

    return (SettingMissing, SettingError, oracledb.Error, duckdb.Error, ConfigServiceError,
            StreakStoreError, WarehouseLockedError, MissingTablesError, LandingError)


def _described(error: BaseException) -> str:
    """The error's own lines and notes, minus python-oracledb's help links, minus any secret."""
    lines = [*str(error).strip().splitlines(), *getattr(error, "__notes__", [])]
    text = " ".join(line.strip() for line in lines if not line.startswith("Help: "))
    import dagster as dg

    for name in _SECRET_VARIABLES:
        # A short value would blank common words and so give itself away; drivers do not
        # print passwords, this only catches a DSN or URL that embeds one.
        if (secret := dg.EnvVar(name).get_value()) and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


_SECRET_VARIABLES = ("ORACLE_PASSWORD", "JOURNEY_CONFIG_TOKEN")


if __name__ == "__main__":
    sys.exit(main())
