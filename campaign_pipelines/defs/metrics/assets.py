"""Metrics: the daily KPI rollup over every domain and each campaign's outcome against its
control group. The rules are core/metrics'; these assets load, call core, write and report.

``metrics/daily_kpis`` is partitioned by Almaty day. A run of one day or of a range of days
(a backfill from the UI runs one day per run; ``campaigns metrics backfill`` one run for the
range) reads the days' activity once and replaces exactly those days' rows of
campaign_ops.kpi_daily in one transaction. Its freshness policy expects a materialization
between 00:00 and 09:00 Almaty every day: the 06:30 schedule's run of yesterday. Dagster 1.13
evaluates freshness per asset, not per partition (a backfill of an old day in that window also
counts); the time-partition freshness checks that were partition-aware are superseded in 1.13
and warn when built, so the policy is the current idiom, and the asset's health shows it.

``metrics/campaign_outcomes`` is partitioned like the campaign assets (one per campaign key):
the deployed target and control groups, the registry's period, the request's target action and
control share, the client events of the reference config. Materialize it from the UI once a
campaign's period (and attribution window) is over; ``campaigns metrics outcome`` computes the
same without a run.
"""

from datetime import timedelta

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.metrics_store import (
    MetricsInputError,
    measure_campaign,
    read_activity,
)
from campaign_pipelines.core.deployment import MB21_LOCAL_CONTROL, MB22_LOCAL_TARGET
from campaign_pipelines.core.metrics.charts import (
    conversion_chart,
    cumulative_chart,
    markdown_image,
)
from campaign_pipelines.core.metrics.outcomes import Outcome
from campaign_pipelines.core.metrics.rollup import CHANNELS, KEY, KPI_DAILY, daily_kpis
from campaign_pipelines.core.registry import BANK_TIMEZONE
from campaign_pipelines.defs.failures import fail, warehouse_work
from campaign_pipelines.defs.markdown import markdown_table
from campaign_pipelines.defs.metrics.partitions import kpi_days
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY
from campaign_pipelines.defs.sequences.assets import EMAIL_SEQUENCES_KEY, SUPPRESSIONS_KEY
from campaign_pipelines.defs.sms.assets import EVENTS_KEY
from campaign_pipelines.defs.sms.runner import SENDS_KEY
from campaign_pipelines.defs.streaks.assets import ASSIGNMENTS, MANUAL_ASSIGNMENTS

GROUP = "metrics"
DAILY_KPIS = dg.AssetKey([GROUP, "daily_kpis"])
CAMPAIGN_OUTCOMES = dg.AssetKey([GROUP, "campaign_outcomes"])
PREVIEW_ROWS = 20
FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 9 * * *",
                                    lower_bound_delta=timedelta(hours=9),
                                    timezone=BANK_TIMEZONE)
# Every deployed campaign's target and control loads land in the deployment ledger.
_DEPLOYED = [dg.AssetDep(table.qualified.split("."), partition_mapping=dg.AllPartitionMapping())
             for table in (MB22_LOCAL_TARGET, MB21_LOCAL_CONTROL)]


@dg.asset(key=DAILY_KPIS, partitions_def=kpi_days, group_name=GROUP, kinds={"sql"},
          deps=[*_DEPLOYED, ASSIGNMENTS, MANUAL_ASSIGNMENTS, EMAIL_SEQUENCES_KEY,
                SUPPRESSIONS_KEY, SENDS_KEY, EVENTS_KEY],
          pool="warehouse", retry_policy=WAREHOUSE_RETRY, freshness_policy=FRESHNESS)
def daily_kpis_asset(context: dg.AssetExecutionContext,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One row per Almaty day × campaign × channel (deploy, streaks, email, sms) in
    campaign_ops.kpi_daily: counts and rates as core/metrics/rollup.py defines them. Replaces
    the run's days in one transaction, so materializing a day again replaces its rows."""
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    activity = warehouse_work("the activity tables", lambda: read_activity(
        warehouse.adapter(), first, last))
    rows = daily_kpis(activity, first, last)
    written = warehouse_work(KPI_DAILY.qualified, lambda: warehouse.deployment()
                             .replace_kpi_days(first, last, rows))
    per_channel = dict(rows.group_by("channel").len().iter_rows())
    return dg.MaterializeResult(metadata={
        "days": f"{first}..{last}" if first != last else str(first),
        "dagster/row_count": written,
        **{f"rows/{channel}": per_channel.get(channel, 0) for channel in CHANNELS},
        "absent_domains": ", ".join(sorted(
            name for name, frame in vars(activity).items() if frame is None)) or "none",
        "preview": dg.MetadataValue.md(preview_table(rows.head(PREVIEW_ROWS))),
    })


def preview_table(rows: pl.DataFrame) -> str:
    """The rows as a markdown table, without the columns that are null throughout."""
    if rows.is_empty():
        return "_no activity recorded on these days_"
    kept = [c for c in rows.columns if c in KEY or rows[c].null_count() < rows.height]
    return markdown_table(rows.select(kept))


class OutcomeConfig(dg.Config):
    """``window_days``: days after the campaign's end that still count (attribution);
    ``action``: an event to measure instead of the request's target action."""

    window_days: int = 0
    action: str = ""


@dg.asset(key=CAMPAIGN_OUTCOMES, partitions_def=campaigns_partitions, group_name=GROUP,
          kinds={"python"}, deps=[table.qualified.split(".")
                                  for table in (MB22_LOCAL_TARGET, MB21_LOCAL_CONTROL)],
          retry_policy=WAREHOUSE_RETRY)
def campaign_outcomes(context: dg.AssetExecutionContext, config: OutcomeConfig,
                      warehouse: WarehouseResource,
                      campaign_data: CampaignDataResource) -> dg.MaterializeResult:
    """What the campaign changed: conversion on its target action in its period, target
    against control, with the uplift's 95 % interval, its p-value and the sample-ratio test
    (core/metrics/outcomes.py), and the two charts. Without a control group, or without a
    target action, ``reason`` says why no uplift is reported."""
    try:
        measured = warehouse_work("the campaign's groups and events", lambda: measure_campaign(
            warehouse.adapter(), warehouse.deployment(), campaign_data.requests(),
            warehouse.reference_config().events, context.partition_key,
            config.action or None, config.window_days))
    except MetricsInputError as error:
        raise fail(str(error)) from None
    outcome = measured.outcome
    if outcome.reason:
        context.log.warning(f"{measured.campaign['campaign_code']}: {outcome.reason}")
    return dg.MaterializeResult(metadata={
        "campaign_code": measured.campaign["campaign_code"], **outcome_metadata(outcome)})


def outcome_metadata(outcome: Outcome) -> dict[str, object]:
    """Numbers as numeric metadata (the UI plots them across materializations), the whole
    outcome as JSON, the reason when there is one, and the charts as markdown images."""
    values = outcome.as_dict()
    numbers: dict[str, object] = {
        name: float(value) if isinstance(value, float) else value
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)}
    for name in ("uplift_abs_ci", "uplift_rel_ci", "target_rate_ci", "control_rate_ci"):
        interval = values.get(name)
        if isinstance(interval, list):
            numbers[f"{name}_low"], numbers[f"{name}_high"] = map(float, interval)
    charts = {}
    if outcome.action:
        charts = {
            "conversion_chart": dg.MetadataValue.md(markdown_image(
                conversion_chart(outcome), "conversion per group with 95% intervals")),
            "cumulative_chart": dg.MetadataValue.md(markdown_image(
                cumulative_chart(outcome), "cumulative conversion by day")),
        }
    return {
        **numbers,
        "action": outcome.action or "none",
        "period": f"{outcome.start}..{outcome.end} +{outcome.window_days} days",
        "srm_ok": "unknown" if outcome.srm_ok is None else str(outcome.srm_ok).lower(),
        "reason": outcome.reason or "",
        "outcome": dg.MetadataValue.json(values),
        **charts,
    }
