import dagster as dg

from campaign_pipelines.defs.metrics.assets import DAILY_KPIS

# The asset and its checks; a run covers one day or a range of days (partition range tags).
metrics_daily_job = dg.define_asset_job(
    name="metrics_daily_job",
    selection=dg.AssetSelection.assets(DAILY_KPIS),
    description="The daily KPI rollup into campaign_ops.kpi_daily for a day or a range of days.",
)

# The freshness check alone: it materializes nothing.
metrics_freshness_job = dg.define_asset_job(
    name="metrics_freshness_job",
    selection=dg.AssetSelection.checks(dg.AssetCheckKey(DAILY_KPIS, "yesterday_rolled_up")),
    description="Warns when yesterday's metrics/daily_kpis partition is missing.",
)
