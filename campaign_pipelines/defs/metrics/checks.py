"""The invariants of campaign_ops.kpi_daily (core/metrics/rollup.py ``violations``), one check
per rule, and ``yesterday_rolled_up``, the freshness of the one partition that matters. The
invariants: each reading the rows back from the warehouse: what was written, or edited by hand
since, not what the step meant to write.

They run with every materialization of ``metrics/daily_kpis`` over the days of that run (the
run's partition or partition range); run alone (no partition), over the whole table. Not
blocking: a broken row says which day, campaign and channel break the rule, and the rest of
the day's KPIs stay readable.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from campaign_pipelines.core.metrics.rollup import KEY, KPI_DAILY, violations
from campaign_pipelines.core.registry import bank_date
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.metrics.assets import DAILY_KPIS
from campaign_pipelines.defs.resources import WarehouseResource

SHOWN = 20
EVERY_DAY = (date(2000, 1, 1), date(2100, 12, 31))
# check name -> the rule's name in core's ``violations``
RULES = {
    "counts_not_negative": "a count is negative",
    "delivered_and_failed_within_sent": "delivered + failed > sent",
    "sent_within_queued": "sent > queued",
    "one_row_per_day_campaign_channel": "the day, campaign and channel repeat",
}
_RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def run_days(tags: dict[str, str]) -> tuple[date, date]:
    """The days the run materialized, from its partition tags; every day without them."""
    if day := tags.get("dagster/partition"):
        return date.fromisoformat(day), date.fromisoformat(day)
    if all(tag in tags for tag in _RANGE):
        first, last = (date.fromisoformat(tags[tag]) for tag in _RANGE)
        return first, last
    return EVERY_DAY


def judge(rows: pl.DataFrame, check: str) -> dg.AssetCheckResult:
    broken = violations(rows).filter(pl.col("rule") == RULES[check]).select(KEY)
    named = [f"{day} {campaign} {channel}" for day, campaign, channel in
             broken.head(SHOWN).iter_rows()]
    more = f" and {broken.height - SHOWN} more" if broken.height > SHOWN else ""
    return dg.AssetCheckResult(
        passed=broken.is_empty(),
        description=(f"{RULES[check]} in {broken.height} row(s): {'; '.join(named)}{more}"
                     if broken.height else f"no row where {RULES[check]}"),
        metadata={"rows_checked": rows.height, "broken_rows": broken.height,
                  "broken": dg.MetadataValue.json(named)},
    )


def _kpi_check(check: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=DAILY_KPIS, name=check, blocking=False,
                    description=f"No kpi_daily row where {RULES[check]}; fails naming "
                    "each day, campaign and channel that breaks the rule (not blocking).")
    def _check(context: dg.AssetCheckExecutionContext,
               warehouse: WarehouseResource) -> dg.AssetCheckResult:
        first, last = run_days(dict(context.run.tags))
        rows = warehouse_work(KPI_DAILY.qualified,
                              lambda: warehouse.deployment().kpi_rows(first, last))
        return judge(rows, check)

    return _check


counts_not_negative = _kpi_check("counts_not_negative")
delivered_and_failed_within_sent = _kpi_check("delivered_and_failed_within_sent")
sent_within_queued = _kpi_check("sent_within_queued")
one_row_per_day_campaign_channel = _kpi_check("one_row_per_day_campaign_channel")

AS_OF_TAG = "metrics/as_of"  # the moment whose yesterday is checked (ISO; default: now)


def bank_yesterday(moment: datetime) -> date:
    return bank_date(moment) - timedelta(days=1)


@dg.asset_check(asset=DAILY_KPIS, name="yesterday_rolled_up", blocking=False,
                description="Yesterday's partition (an Almaty day) has been materialized; "
                "run at 09:00 Almaty by metrics_freshness_schedule, it fails as a warning "
                "naming the day when the 06:30 rollup did not happen.")
def yesterday_rolled_up(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Partition-aware where a freshness policy is not (it judges the asset as a whole, so an
    old day backfilled in the morning would count as fresh)."""
    as_of = context.run.tags.get(AS_OF_TAG)
    day = bank_yesterday(datetime.fromisoformat(as_of) if as_of else datetime.now(UTC))
    found = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DAILY_KPIS, asset_partitions=[day.isoformat()]),
        limit=1).records
    return dg.AssetCheckResult(
        passed=bool(found), severity=dg.AssetCheckSeverity.WARN,
        description=(f"{day} is rolled up" if found else
                     f"{day} has no metrics/daily_kpis materialization: run `campaigns metrics "
                     f"backfill --from {day} --to {day}` or launch the partition from the UI"),
        metadata={"day": day.isoformat()})
