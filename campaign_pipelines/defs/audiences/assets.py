"""Campaign audiences: request → received rows → filtered audience → target/control split."""

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.uploads import UploadError, read_upload
from campaign_pipelines.core import audience as core
from campaign_pipelines.core.deployment import off_limit_window
from campaign_pipelines.core.profile import Vocabulary
from campaign_pipelines.core.requests import CampaignRequest, RequestError, blacklists_to_apply
from campaign_pipelines.core.split import split_audience, split_counts, strata
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource

GROUP = "audiences"
PROFILE_INS = {
    "customer_profile": dg.AssetIn(key=["reference", "customer_profile"]),
    "vocabulary": dg.AssetIn(key=["reference", "vocabulary"]),
}


def _fail(problem: str, problems: list[dict] | None = None) -> dg.Failure:
    metadata = {"problems": dg.MetadataValue.json(problems)} if problems else None
    return dg.Failure(description=problem, metadata=metadata, allow_retries=False)


@dg.asset(partitions_def=campaigns_partitions, group_name=GROUP, kinds={"python"})
def campaign_request(
    context: dg.AssetExecutionContext, campaign_data: CampaignDataResource
) -> dg.Output[CampaignRequest]:
    """The accepted request of this campaign, as the sensor or `campaigns create` stored it."""
    try:
        request = campaign_data.requests().load(context.partition_key)
    except FileNotFoundError as error:
        raise _fail(str(error)) from None
    meta = request.metadata
    return dg.Output(
        request,
        metadata={
            "campaign_type": request.campaign_type.value,
            "campaign_name": meta.campaign_name,
            "period": f"{meta.date_start} .. {meta.date_end}",
            "user_files": dg.MetadataValue.json(request.user_files),
            "user_iins_given": len(request.user_iins),
            "control_share": request.control_group.share if request.control_group else 0.0,
        },
    )


@dg.asset(partitions_def=campaigns_partitions, group_name=GROUP, kinds={"polars"})
def raw_audience(
    campaign_request: CampaignRequest, campaign_data: CampaignDataResource
) -> dg.Output[pl.DataFrame]:
    """Every row received (request IINs and uploads), cleaned and classified: ok, invalid_iin,
    bad_check_digit (when the request is strict) or duplicate. Nothing is dropped here."""
    parts = [core.rows_from_request_iins(campaign_request.user_iins)]
    uploads = campaign_data.uploads_dir()
    for name in campaign_request.user_files:
        try:
            upload = read_upload(uploads / name)
        except UploadError as error:
            raise _fail(str(error)) from None
        parts.append(upload.select(pl.lit(name).alias("source"), "row", "raw_iin"))
    received = pl.concat([p.cast(core.RAW_SCHEMA) for p in parts])
    rows = core.classify_rows(received, strict_checksum=campaign_request.strict_iin_checksum)
    counts = core.validation_counts(rows)
    return dg.Output(
        rows,
        metadata={
            **counts,
            "rows_per_source": dg.MetadataValue.json(
                dict(rows.group_by("source").len().sort("source").iter_rows())
            ),
            "rejected_sample": dg.MetadataValue.json(core.rejected_sample(rows)),
        },
    )


@dg.asset(partitions_def=campaigns_partitions, group_name=GROUP, kinds={"polars"}, ins=PROFILE_INS)
def filtered_audience(
    context: dg.AssetExecutionContext,
    campaign_request: CampaignRequest,
    raw_audience: pl.LazyFrame,
    warehouse: WarehouseResource,
    customer_profile: pl.LazyFrame,
    vocabulary: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Valid IINs through the blacklist, device, push stream, MAU and product filters; the
    funnel (legacy filter_stats names) is in the metadata."""
    names = Vocabulary(vocabulary)
    try:
        blacklists = blacklists_to_apply(
            campaign_request, warehouse.reference_config().blacklist_sources
        )
    except RequestError as error:
        raise _fail(str(error), error.problems) from None
    problems = core.unknown_filter_names(campaign_request.filter_config, names)
    if problems:
        raise _fail(str(RequestError(problems)), problems)
    valid = core.valid_iins(raw_audience)
    audience, filtering = core.filter_audience(
        valid,
        campaign_request.filter_config,
        customer_profile,
        names,
        blacklists,
        held_off=_held_off(context.partition_key, campaign_request, warehouse),
    )
    stats = core.funnel(core.validation_counts(raw_audience), filtering, audience.height)
    context.log.info(f"funnel: {stats}")
    return dg.Output(
        audience,
        metadata={
            **stats,
            "blacklists_applied": dg.MetadataValue.json(blacklists),
            "filter_stats": dg.MetadataValue.json(stats),
            "funnel": dg.MetadataValue.md(_funnel_table(stats)),
            "dagster/row_count": audience.height,
        },
    )


def _funnel_table(stats: dict[str, int]) -> str:
    """The funnel as the UI shows it: each step, who is left, who it removed."""
    lines = ["| step | users | removed |", "|---|---:|---:|"]
    previous = None
    for step in (s for s in core.FUNNEL_STEPS if s in stats):
        removed = "" if previous is None else f"{previous - stats[step]:,}"
        lines.append(f"| {step} | {stats[step]:,} | {removed} |")
        previous = stats[step]
    return "\n".join(lines)


def _held_off(
    key: str, request: CampaignRequest, warehouse: WarehouseResource
) -> pl.DataFrame | None:
    """IINs other campaigns hold off-limit over this one's period (the request's own earlier
    deployment does not count)."""
    if request.off_limit_days is None:
        return None
    deployment = warehouse.deployment()
    registry = deployment.registry().filter(pl.col("campaign_key") == key)
    own_code = registry["campaign_code"][0] if registry.height else None
    window_from, window_to = off_limit_window(request, request.off_limit_days)
    held = deployment.off_limit_iins(window_from, window_to, own_code)
    return held.select(iin_key=pl.col("iin").cast(pl.Int64, strict=False)).drop_nulls()


@dg.asset(
    partitions_def=campaigns_partitions,
    group_name=GROUP,
    kinds={"polars"},
    ins={"vocabulary": PROFILE_INS["vocabulary"]},
)
def audience_split(
    context: dg.AssetExecutionContext,
    campaign_request: CampaignRequest,
    filtered_audience: pl.DataFrame,
    vocabulary: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Target and control groups: deterministic (seeded by the request's control_group.seed,
    else the campaign key), stratified, disjoint."""
    control = campaign_request.control_group
    stratify_by = control.stratify_by if control else []
    seed = (control.seed if control and control.seed else None) or context.partition_key
    stratum = strata(filtered_audience, Vocabulary(vocabulary), stratify_by)
    split = split_audience(filtered_audience, control, stratum, seed)
    per_stratum = split_counts(split)
    target = int(per_stratum["target"].sum())
    control_count = int(per_stratum["control"].sum())
    return dg.Output(
        split,
        metadata={
            "target_count": target,
            "control_count": control_count,
            "control_share": round(control_count / split.height, 4) if split.height else 0.0,
            "strata": dg.MetadataValue.json(per_stratum.to_dicts()),
            "dagster/row_count": split.height,
        },
    )
