"""`campaigns metrics ...`: KPIs and outcomes (wired into cli.py by ``add_metrics_commands``).

    campaigns metrics show [--campaign C] [--from D] [--to D] [--json]
                                         campaign_ops.kpi_daily as a table (default: the 7
                                         days up to today, Almaty)
    campaigns metrics outcome CODE [--json] [--action EVENT] [--window-days N]
                                         the campaign's outcome against its control group,
                                         computed now (no run)
    campaigns metrics backfill --from D --to D
                                         one Dagster run of metrics_daily_job over the days
                                         (a partition range: the activity is read once)
    campaigns metrics report CODE [--out report.html] [--action EVENT] [--window-days N]
                                         the outcome, charts and the campaign's figures as
                                         one self-contained HTML file

``--campaign`` takes kpi_daily's own key: a CAMPAIGNCODE for the deploy channel, a streak,
an e-mail sequence or an SMS campaign for the others.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

from campaign_pipelines.cli_pending import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED

DEFAULT_DAYS = 7
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def _location():
    from campaign_pipelines.service import open_location

    return open_location()


def _print_json(body: object) -> None:
    from campaign_pipelines.responses import print_json

    print_json(body)


def _today() -> date:
    from campaign_pipelines.campaign_reads import bank_today

    return bank_today()


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD") from None


def cmd_show(args: argparse.Namespace) -> int:
    import polars as pl

    last = args.to or _today()
    first = args.from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    rows = _location().deployment().kpi_rows(first, last, args.campaign)
    if args.json:
        _print_json([{k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
                     for row in rows.iter_rows(named=True)])
        return EXIT_OK
    if rows.is_empty():
        print(f"no kpi_daily rows for {first}..{last}"
              + (f" and campaign {args.campaign}" if args.campaign else "")
              + ": materialize metrics/daily_kpis (`campaigns metrics backfill`)")
        return EXIT_OK
    shown = rows.select([c for c in rows.columns if rows[c].null_count() < rows.height])
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, float_precision=4):
        print(shown)
    return EXIT_OK


def _measured(location, args: argparse.Namespace):
    from campaign_pipelines.adapters.metrics_store import measure_campaign

    warehouse = location.warehouse
    return measure_campaign(warehouse.adapter(), warehouse.deployment(),
                            location.campaign_data.requests(),
                            warehouse.reference_config().events, args.code, args.action,
                            args.window_days)


def outcome_body(measured) -> dict:
    """The outcome's JSON with which campaign it is."""
    campaign = measured.campaign
    return {"campaign_code": campaign["campaign_code"], "campaign_key": campaign["campaign_key"],
            **measured.outcome.as_dict()}


def cmd_outcome(args: argparse.Namespace) -> int:
    from campaign_pipelines.adapters.metrics_store import MetricsInputError

    try:
        measured = _measured(_location(), args)
    except MetricsInputError as error:
        _print_json({"success": False, "message": str(error)})
        return EXIT_BAD_INPUT
    body = outcome_body(measured)
    if args.json:
        _print_json(body)
    else:
        print(describe(body))
    return EXIT_OK


def describe(body: dict) -> str:
    """The outcome in a few lines for people."""
    def pct(value) -> str:
        return "–" if value is None else f"{100 * value:.2f}%"

    lines = [f"{body['campaign_code']} ({body['campaign_key']}): {body['action'] or 'no action'}"
             f" in {body['start']}..{body['end']} +{body['window_days']} days",
             f"  target  {body['target_users']:>10,} users  {body['target_conversions']:>8,} "
             f"converted  {pct(body['target_rate'])}",
             f"  control {body['control_users']:>10,} users  {body['control_conversions']:>8,} "
             f"converted  {pct(body['control_rate'])}"]
    if body["uplift_abs"] is not None:
        ci = body["uplift_abs_ci"]
        interval = (f" (95% CI {100 * ci[0]:+.2f} to {100 * ci[1]:+.2f} pts)" if ci else "")
        p_value = "" if body["p_value"] is None else f", p = {body['p_value']:.3g}"
        lines.append(f"  uplift {100 * body['uplift_abs']:+.2f} pts{interval}{p_value}")
    if body["srm_p_value"] is not None:
        verdict = "ok" if body["srm_ok"] else "MISMATCH: do not trust the uplift yet"
        lines.append(f"  control share {body['observed_control_share']:.4f} for "
                     f"{body['requested_control_share']} requested: p = "
                     f"{body['srm_p_value']:.3g} ({verdict})")
    if body["reason"]:
        lines.append(f"  {body['reason']}")
    return "\n".join(lines)


def cmd_backfill(args: argparse.Namespace) -> int:
    from campaign_pipelines.defs.metrics.partitions import KPI_START
    from campaign_pipelines.responses import failure_messages
    from campaign_pipelines.service import run_job

    first, last, today = args.from_, args.to, _today()
    if first > last or first < date.fromisoformat(KPI_START) or last > today:
        _print_json({"success": False, "message": f"--from {first} --to {last}: give days "
                     f"from {KPI_START} to {today} (today, Almaty: its rows are the day so "
                     "far), --from first"})
        return EXIT_BAD_INPUT
    location = _location()
    tags = dict(zip(RANGE_TAGS, (first.isoformat(), last.isoformat()), strict=True))
    result = run_job(location, "metrics_daily_job", tags=tags)
    body: dict = {"success": result.success, "run_id": result.run_id,
                  "days": (last - first).days + 1, "from": str(first), "to": str(last)}
    if result.success:
        body["rows"] = location.deployment().kpi_rows(first, last).height
    else:
        body["errors"] = failure_messages(result)
    _print_json(body)
    return EXIT_OK if result.success else EXIT_RUN_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from campaign_pipelines.adapters.metrics_report import write_report
    from campaign_pipelines.adapters.metrics_store import MetricsInputError

    location = _location()
    try:
        measured = _measured(location, args)
    except MetricsInputError as error:
        _print_json({"success": False, "message": str(error)})
        return EXIT_BAD_INPUT
    out = Path(args.out or f"{measured.campaign['campaign_code']}-report.html")
    written = write_report(measured.outcome, report_figures(location, measured), out)
    _print_json({"success": True, "report": str(written),
                 "campaign_code": measured.campaign["campaign_code"],
                 "reason": measured.outcome.reason})
    return EXIT_OK


def report_figures(location, measured) -> dict:
    """What the report shows besides the outcome (adapters/metrics_report.py's ``figures``):
    the campaign, its audience funnel (the latest filtered_audience run of its key), what the
    deployment ledger holds of it, and its e-mail and SMS sends in kpi_daily over the period."""
    from campaign_pipelines.core.metrics.rollup import send_totals

    campaign, outcome = measured.campaign, measured.outcome
    ledger = location.deployment().deployments()
    held = ledger.filter(ledger["campaign_code"] == campaign["campaign_code"])
    kpis = location.deployment().kpi_rows(outcome.start,
                                          outcome.end + timedelta(days=outcome.window_days),
                                          campaign["campaign_code"])
    sends = send_totals(kpis)
    return {
        "campaign": {"code": campaign["campaign_code"], "name": campaign["campaign_name"],
                     "key": campaign["campaign_key"], "type": campaign["campaign_type"],
                     "period": f"{campaign['date_start']} to {campaign['date_end']}"},
        "funnel": _funnel(location, campaign["campaign_key"]) or "no audience run recorded",
        "deployment": {"target (registry)": campaign["user_count"],
                       "control (registry)": campaign["control_count"],
                       **dict(zip(held["table_name"], held["row_count"], strict=True))},
        "sends": sends or "no e-mail or SMS sends under this campaign code in kpi_daily",
    }


def _funnel(location, key: str) -> dict | None:
    import dagster as dg

    found = location.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("filtered_audience"),
                              asset_partitions=[key]), limit=1).records
    if not found or found[0].asset_materialization is None:
        return None
    stats = found[0].asset_materialization.metadata.get("filter_stats")
    if stats is None:
        return None
    from campaign_pipelines.core.audience import REPORT_ORDER

    values = dict(stats.value)  # in the funnel's order, as `campaigns create` prints it
    return {step: values[step] for step in (*REPORT_ORDER, *sorted(values)) if step in values}


def add_metrics_commands(subparsers) -> None:
    metrics = subparsers.add_parser("metrics", help="daily KPIs and campaign outcomes")
    sub = metrics.add_subparsers(dest="metrics", required=True)
    show = sub.add_parser("show", help="campaign_ops.kpi_daily as a table")
    show.add_argument("--campaign", help="kpi_daily's campaign key (code, streak, sequence...)")
    show.add_argument("--from", dest="from_", type=_day, help="first day (YYYY-MM-DD)")
    show.add_argument("--to", type=_day, help="last day (default: today, Almaty)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)
    for name, run, text in (("outcome", cmd_outcome, "one campaign's outcome, computed now"),
                            ("report", cmd_report, "one campaign's outcome as an HTML file")):
        command = sub.add_parser(name, help=text)
        command.add_argument("code", help="CAMPAIGNCODE, XLS_OW_ID or campaign key")
        command.add_argument("--action", help="event to measure (default: its target action)")
        command.add_argument("--window-days", type=int, default=0,
                             help="days after the campaign's end that still count")
        if name == "outcome":
            command.add_argument("--json", action="store_true")
        else:
            command.add_argument("--out", help="the HTML file (default: CODE-report.html)")
        command.set_defaults(run=run)
    backfill = sub.add_parser("backfill", help="roll up a range of days (one Dagster run)")
    backfill.add_argument("--from", dest="from_", type=_day, required=True)
    backfill.add_argument("--to", type=_day, required=True)
    backfill.set_defaults(run=cmd_backfill)
