"""The campaign's codes and its six warehouse tables, one asset per table.

Each table asset replaces exactly this campaign's rows in one transaction, so deploying twice
never duplicates and a failure leaves the previous rows as they were. That transaction also
records which request version the table now holds (the deployment ledger) and, for the target
and control tables, the registry's counts.

Every table waits for ``campaign_codes`` (the user tables also for ``audience_split``) and for
nothing else: not for the dictionaries, not for each other. Each table is its own transaction,
so no order among them would let a reader see "all or nothing" anyway; a reader that joins the
users to the dictionary by CAMPAIGNCODE sees the campaign's users without its metadata row (or
the reverse) for a moment in any order. So one broken table stops no other one, and a table
that a campaign does not write can stay unmaterialized without Dagster skipping the tables
downstream of it (a missing optional output skips every step that takes it as an input).

What the catalog shows is what the table holds. A table materializes for a partition when this
campaign's rows were written to it; the other type's dictionary, the control table of a request
without a control group and a table switched off by ``deploy_options`` are not materialized
(``output_required=False``, nothing yielded). Where the replace removed rows that the catalog
still shows (a replacing request dropped the control group or changed the campaign type), the
table materializes once more with ``dagster/row_count`` 0 and the ``reason``, so the catalog
stops showing the old rows. The latest materialization of the partition says whether the
catalog shows rows: it is what is to be corrected, and it needs no change to the warehouse
adapters. A switched-off table is left untouched, rows and catalog alike.

``campaign_codes`` sits in the ``audiences`` group: DESIGN.md §1 ends that domain with
"target/control split → campaign codes", and the catalog's audiences view then shows the whole
chain from request to codes. It is defined here because, like the tables, it writes the
warehouse (the registry) under the ``warehouse`` pool and retry policy. ``audience_job`` (the
dry run) leaves it out: a dry run allocates no code and writes nothing.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.deployment import CodedCampaign
from campaign_pipelines.core.requests import CampaignRequest
from campaign_pipelines.core.split import CONTROL, TARGET
from campaign_pipelines.defs.audiences.assets import GROUP as AUDIENCES
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY

GROUP = "deployment"
_COMMON = {
    "partitions_def": campaigns_partitions,
    "pool": "warehouse",
    # Transient warehouse errors are retried with backoff; permanent ones raise Failure without.
    "retry_policy": WAREHOUSE_RETRY,
}


@dg.asset(**_COMMON, group_name=AUDIENCES, kinds={"python"})
def campaign_codes(
    context: dg.AssetExecutionContext,
    campaign_request: CampaignRequest,
    audience_split: pl.LazyFrame,
    warehouse: WarehouseResource,
    campaign_data: CampaignDataResource,
) -> dg.Output[CodedCampaign]:
    """CAMPAIGNCODE (and XLS_OW_ID for RB3), allocated once per campaign under the registry's
    unique constraints and kept on every re-materialization, with the request they were
    allocated for: what the tables deploy. The registry row names the request version it
    describes; its counts are written by the target and control loads."""
    deployment = warehouse.deployment()
    codes = warehouse_work(
        "campaign_ops.campaign_registry",
        lambda: deployment.allocate_codes(context.partition_key, campaign_request),
    )
    # Admission names the code when it refuses a request that would replace this campaign.
    campaign_data.requests().record_code(context.partition_key, codes.campaign_code)
    campaign = CodedCampaign(request=campaign_request, codes=codes)
    groups = dict(audience_split.group_by("group").len().collect().iter_rows())
    return dg.Output(
        campaign,
        metadata={
            "campaign_code": codes.campaign_code,
            "xls_ow_id": codes.xls_ow_id or "",
            "request_version": campaign.version,
            "target_count": groups.get(TARGET, 0),
            "control_count": groups.get(CONTROL, 0),
        },
    )


def _table_asset(table: tables.Table, description: str):
    return dg.asset(
        **_COMMON,
        group_name=GROUP,
        key=[table.schema, table.name],
        kinds={"sql"},
        description=description,
        output_required=False,
    )


def _metadata_asset(table: tables.Table) -> dg.AssetsDefinition:
    @_table_asset(table, f"Campaign metadata in {table.qualified}.")
    def _deploy(
        context: dg.AssetExecutionContext,
        campaign_codes: CodedCampaign,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult]:
        campaign = campaign_codes
        if _switched_off(context, table, campaign):
            return
        rows = tables.dictionary_rows(table, campaign.request, campaign.codes, _load_date(context))
        yield from _replace(context, table, campaign, rows, warehouse)

    return _deploy


mb01_camp_dict = _metadata_asset(tables.MB01_CAMP_DICT)
rb3_tr_campaign_dict = _metadata_asset(tables.RB3_TR_CAMPAIGN_DICT)


def _users_asset(table: tables.Table) -> dg.AssetsDefinition:
    @_table_asset(table, f"This campaign's users in {table.qualified}.")
    def _deploy(
        context: dg.AssetExecutionContext,
        campaign_codes: CodedCampaign,
        audience_split: pl.DataFrame,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult]:
        campaign = campaign_codes
        if _switched_off(context, table, campaign):
            return
        rows = tables.user_rows(
            table, audience_split, campaign.request, campaign.campaign_code, _load_date(context)
        )
        yield from _replace(context, table, campaign, rows, warehouse)

    return _deploy


mb22_local_target = _users_asset(tables.MB22_LOCAL_TARGET)
mb21_local_control = _users_asset(tables.MB21_LOCAL_CONTROL)
fd_rb2_campaigns_users = _users_asset(tables.FD_RB2_CAMPAIGNS_USERS)
off_limit_campaigns_users = _users_asset(tables.OFF_LIMIT_CAMPAIGNS_USERS)


def _switched_off(
    context: dg.AssetExecutionContext, table: tables.Table, campaign: CodedCampaign
) -> bool:
    """True (and said in the step's log) when deploy_options leave ``table`` untouched."""
    off = tables.option_off(table, campaign.request)
    if off:
        context.log.info(f"{table.qualified} left untouched and not materialized: {off}")
    return off is not None


def _replace(
    context: dg.AssetExecutionContext,
    table: tables.Table,
    campaign: CodedCampaign,
    rows: pl.DataFrame,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """The campaign's rows in ``table`` replaced by ``rows``; a materialization when the table
    now holds them, or when it holds none but the catalog still shows earlier ones."""
    code = campaign.campaign_code
    written = warehouse_work(
        table.qualified,
        lambda: warehouse.deployment().replace_campaign_rows(table, code, rows, campaign.version),
    )
    metadata = {"table": table.qualified, "campaign_code": code, "dagster/row_count": written}
    none = tables.holds_none_because(table, campaign.request)
    if none is None:
        yield dg.MaterializeResult(metadata=metadata)
    elif _catalog_shows_rows(context):
        yield dg.MaterializeResult(
            metadata={**metadata, "reason": f"{none}: the rows the catalog showed are gone"}
        )
    else:
        context.log.info(f"{table.qualified} holds no rows of {code}, not materialized: {none}")


def _catalog_shows_rows(context: dg.AssetExecutionContext) -> bool:
    """Whether the partition's latest materialization of this asset reports rows."""
    latest = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=context.asset_key, asset_partitions=[context.partition_key]
        ),
        limit=1,
    ).records
    if not latest:
        return False
    rows = latest[0].asset_materialization.metadata.get("dagster/row_count")
    return bool(rows and rows.value)


def _load_date(context: dg.AssetExecutionContext) -> datetime:
    """LOAD_DATE (naive UTC): when the run was created, so every table of one deployment holds
    the same one, also after a step retry. An asset invoked directly has no stored run: now."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record else datetime.now(UTC)
    return created.astimezone(UTC).replace(tzinfo=None)
