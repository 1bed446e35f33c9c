"""``sms/campaign_metrics``: every SMS campaign's counters as materialization metadata, after
each runner run and each batch of receipts and replies, so the UI plots them over time."""

import dagster as dg

from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.resources import WarehouseResource, sms_store
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY
from campaign_pipelines.defs.sms.assets import EVENTS_KEY, GROUP
from campaign_pipelines.defs.sms.resources import SmsResource
from campaign_pipelines.defs.sms.runner import SENDS_KEY

METRICS_KEY = dg.AssetKey([GROUP, "campaign_metrics"])
METRICS_SHOWN = 50  # campaigns with their own metadata series, latest runs first
NUMERIC = ("total_queued", "sent", "delivered", "failed", "suppressed", "replies", "opt_outs",
           "delivery_rate", "opt_out_rate")


@dg.asset(key=METRICS_KEY, deps=[SENDS_KEY, EVENTS_KEY], group_name=GROUP, kinds={"duckdb"},
          retry_policy=WAREHOUSE_RETRY)
def campaign_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     sms: SmsResource) -> dg.MaterializeResult:
    """Every campaign's counters from campaign_ops.sms_campaigns (the runner writes them every
    25 messages and at the end of a run; receipts and replies as they are applied) as numeric
    metadata, ``<campaign>/<counter>``, so the UI plots each over time; and the KPI sync
    (``SMS_KPI_SYNC``): ``warehouse`` is these counters in sms_campaigns, nothing more to
    write; ``none`` turns the report off; ``airtable`` is not built in this version and says
    so here and in the log, never pretending to have synced."""
    found = warehouse_work("campaign_ops.sms_campaigns", sms_store(warehouse).campaigns)
    shown = found.sort("last_run_at", descending=True, nulls_last=True).head(METRICS_SHOWN)
    metadata: dict = {"campaigns": found.height, "dagster/row_count": found.height,
                      "per_status": dg.MetadataValue.json(
                          dict(found.group_by("status").len().sort("status").iter_rows()))}
    for row in shown.iter_rows(named=True):
        name = row["name"]
        metadata |= {f"{name}/{counter}": row[counter] for counter in NUMERIC}
        metadata[f"{name}/status"] = row["status"]
        metadata[f"{name}/last_run_at"] = (row["last_run_at"].isoformat()
                                           if row["last_run_at"] else "never")
        metadata[f"{name}/last_run_result"] = row["last_run_result"] or ""
    metadata["kpi_sync"] = _kpi_sync(context, sms.kpi_sync)
    return dg.MaterializeResult(metadata=metadata)


def _kpi_sync(context, kind: str) -> str:
    if kind == "warehouse":
        return "warehouse: the counters are campaign_ops.sms_campaigns' columns"
    if kind == "none":
        return "none"
    said = (f"{kind}: not built in this version, nothing was synced; the counters are in "
            "campaign_ops.sms_campaigns (set SMS_KPI_SYNC=warehouse to silence this)")
    context.log.warning(said)
    return said
