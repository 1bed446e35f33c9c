"""``sms/campaign_metrics``: every SMS campaign's counters as materialization metadata, after
each runner run and each batch of receipts and replies, so the UI plots them over time; then
the KPI sync (``SMS_KPI_SYNC``) copies them to the second store."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.airtable import campaign_fields
from campaign_pipelines.core.masking import masked
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
    write; ``none`` turns the report off; ``airtable`` upserts each changed campaign's record
    (adapters/airtable.py). A sync that fails is a warning and ``kpi_sync.*`` metadata (synced,
    failed, the error; a dot, which no campaign name has), never a failed step: the next run
    sends what was not taken."""
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
    metadata |= _kpi_sync(context, sms, found)
    return dg.MaterializeResult(metadata=metadata)


def _kpi_sync(context, sms: SmsResource, found: pl.DataFrame) -> dict:
    if sms.kpi_sync == "warehouse":
        return {"kpi_sync": "warehouse: the counters are campaign_ops.sms_campaigns' columns"}
    if sms.kpi_sync != "airtable":
        return {"kpi_sync": "none"}
    kpis = sms.airtable()
    if isinstance(kpis, str):
        context.log.warning(kpis)
        return _reported("airtable: not configured", 0, found.height, 0, 0, kpis)
    records = [campaign_fields(row) for row in found.iter_rows(named=True)]
    try:
        with kpis:
            now = datetime.now(UTC)
            marker = sms.kpi_marker(kpis)
            due, full = marker.due(records, now)
            report = kpis.sync(due)
            marker.record(due, report, now, full)
    except Exception as error:  # the warehouse holds the record: never fail the metrics
        said = masked(f"airtable sync stopped: {type(error).__name__}: {error}")[:500]
        context.log.warning(f"{said}; the next run tries again")
        return _reported(f"airtable {kpis.target}", 0, len(records), 0, 0, said)
    problem = report.as_metadata()["error"] or ""
    if problem:
        context.log.warning(f"airtable sync: {len(report.failed)} of {len(due)} campaigns not "
                            f"synced, the next run tries again: {problem}")
    return _reported(f"airtable {kpis.target}{' (full)' if full else ''}", len(report.synced),
                     len(report.failed), len(records) - len(due), report.requests, problem)


def _reported(to: str, synced: int, failed: int, unchanged: int, requests: int,
              error: str) -> dict:
    return {"kpi_sync": to, "kpi_sync.synced": synced, "kpi_sync.failed": failed,
            "kpi_sync.unchanged": unchanged, "kpi_sync.requests": requests,
            "kpi_sync.error": error}
