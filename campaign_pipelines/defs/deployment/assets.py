"""The campaign's codes and its six warehouse tables, one asset per table.

Each table asset replaces exactly this campaign's rows in one transaction, so deploying twice
never duplicates and a failure leaves the previous rows as they were. That transaction also
records which request version the table now holds (the deployment ledger) and, for the target
and control tables, the registry's counts. Metadata tables deploy first; the user tables wait
for them and do not wait for each other, so one broken table does not stop the others.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.requests import CampaignRequest, request_version
from campaign_pipelines.core.split import CONTROL, TARGET
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY

GROUP = "deployment"
_COMMON = {
    "partitions_def": campaigns_partitions,
    "group_name": GROUP,
    "pool": "warehouse",
    # Transient warehouse errors are retried with backoff; permanent ones raise Failure without.
    "retry_policy": WAREHOUSE_RETRY,
}


@dg.asset(**_COMMON, kinds={"python"})
def campaign_codes(
    context: dg.AssetExecutionContext,
    campaign_request: CampaignRequest,
    audience_split: pl.LazyFrame,
    warehouse: WarehouseResource,
    campaign_data: CampaignDataResource,
) -> dg.Output[CampaignCodes]:
    """CAMPAIGNCODE (and XLS_OW_ID for RB3), allocated once per campaign under the registry's
    unique constraints and kept on every re-materialization. The registry row names the request
    version it describes; its counts are written by the target and control loads."""
    deployment = warehouse.deployment()
    codes = warehouse_work(
        "campaign_ops.campaign_registry",
        lambda: deployment.allocate_codes(context.partition_key, campaign_request),
    )
    # Admission names the code when it refuses a request that would replace this campaign.
    campaign_data.requests().record_code(context.partition_key, codes.campaign_code)
    groups = dict(audience_split.group_by("group").len().collect().iter_rows())
    return dg.Output(
        codes,
        metadata={
            "campaign_code": codes.campaign_code,
            "xls_ow_id": codes.xls_ow_id or "",
            "request_version": request_version(campaign_request),
            "target_count": groups.get(TARGET, 0),
            "control_count": groups.get(CONTROL, 0),
        },
    )


def _outcome(
    table: tables.Table, code: str, *, rows: int | None = None, skipped: str | None = None
) -> dg.MaterializeResult:
    """Materialization metadata: the rows written, or why this campaign has none here."""
    metadata = {"table": table.qualified, "campaign_code": code, "deployed": skipped is None}
    if skipped is None:
        metadata["dagster/row_count"] = rows
    else:
        metadata["reason"] = skipped
    return dg.MaterializeResult(metadata=metadata)


def _metadata_asset(table: tables.Table) -> dg.AssetsDefinition:
    @dg.asset(
        **_COMMON,
        key=[table.schema, table.name],
        kinds={"sql"},
        description=f"Campaign metadata in {table.qualified}.",
    )
    def _deploy(
        context: dg.AssetExecutionContext,
        campaign_request: CampaignRequest,
        campaign_codes: CampaignCodes,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        code = campaign_codes.campaign_code
        if off := tables.option_off(table, campaign_request):
            return _outcome(table, code, skipped=off)
        rows = tables.dictionary_rows(table, campaign_request, campaign_codes, _load_date(context))
        return _replace(table, campaign_request, code, rows, warehouse)

    return _deploy


mb01_camp_dict = _metadata_asset(tables.MB01_CAMP_DICT)
rb3_tr_campaign_dict = _metadata_asset(tables.RB3_TR_CAMPAIGN_DICT)

_METADATA_KEYS = [
    dg.AssetKey([t.schema, t.name]) for t in (tables.MB01_CAMP_DICT, tables.RB3_TR_CAMPAIGN_DICT)
]


def _users_asset(table: tables.Table) -> dg.AssetsDefinition:
    @dg.asset(
        **_COMMON,
        key=[table.schema, table.name],
        kinds={"sql"},
        deps=_METADATA_KEYS,
        description=f"This campaign's users in {table.qualified}.",
    )
    def _deploy(
        context: dg.AssetExecutionContext,
        campaign_request: CampaignRequest,
        campaign_codes: CampaignCodes,
        audience_split: pl.DataFrame,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        code = campaign_codes.campaign_code
        if off := tables.option_off(table, campaign_request):
            return _outcome(table, code, skipped=off)
        loaded_at = _load_date(context)
        rows = tables.user_rows(table, audience_split, campaign_request, code, loaded_at)
        return _replace(table, campaign_request, code, rows, warehouse)

    return _deploy


mb22_local_target = _users_asset(tables.MB22_LOCAL_TARGET)
mb21_local_control = _users_asset(tables.MB21_LOCAL_CONTROL)
fd_rb2_campaigns_users = _users_asset(tables.FD_RB2_CAMPAIGNS_USERS)
off_limit_campaigns_users = _users_asset(tables.OFF_LIMIT_CAMPAIGNS_USERS)


def _replace(
    table: tables.Table,
    request: CampaignRequest,
    code: str,
    rows: pl.DataFrame,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The campaign's rows in ``table`` replaced by ``rows``, and what to report of it."""
    version = request_version(request)
    written = warehouse_work(
        table.qualified,
        lambda: warehouse.deployment().replace_campaign_rows(table, code, rows, version),
    )
    if none := tables.holds_none_because(table, request):
        return _outcome(table, code, skipped=none)
    return _outcome(table, code, rows=written)


def _load_date(context: dg.AssetExecutionContext) -> datetime:
    """LOAD_DATE (naive UTC): when the run was created, so every table of one deployment holds
    the same one, also after a step retry. An asset invoked directly has no stored run: now."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record else datetime.now(UTC)
    return created.astimezone(UTC).replace(tzinfo=None)
