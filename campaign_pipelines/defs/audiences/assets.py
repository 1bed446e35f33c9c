"""Campaign audiences: request → received rows → filtered audience → target/control split."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.landing import file_fingerprint
from campaign_pipelines.adapters.storage import storage_for, storage_path
from campaign_pipelines.adapters.uploads import UploadError, read_upload, upload_path
from campaign_pipelines.core import audience as core
from campaign_pipelines.core import blacklist
from campaign_pipelines.core.profile import Vocabulary
from campaign_pipelines.core.requests import (
    CampaignRequest,
    RequestError,
    blacklists_to_apply,
    request_version,
)
from campaign_pipelines.core.split import split_audience, split_counts, split_seed, strata
from campaign_pipelines.defs.audiences.admission import CampaignRequestConfig
from campaign_pipelines.defs.audiences.metadata import FUNNEL, REJECTED_SAMPLE, STRATA, table
from campaign_pipelines.defs.failures import fail
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource

GROUP = "audiences"
PROFILE_INS = {
    "customer_profile": dg.AssetIn(key=["reference", "customer_profile"]),
    "vocabulary": dg.AssetIn(key=["reference", "vocabulary"]),
}


@dg.asset(partitions_def=campaigns_partitions, group_name=GROUP, kinds={"python"})
def campaign_request(
    context: dg.AssetExecutionContext,
    config: CampaignRequestConfig,
    campaign_data: CampaignDataResource,
) -> dg.Output[CampaignRequest]:
    """The admitted request version this run builds (the run's config names it; by default
    the version the campaign key holds). A run started for a landing file takes that file
    into archive/ here, once it is certain to build what was admitted."""
    try:
        request = campaign_data.requests().load(context.partition_key, config.version or None)
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    taken = None
    if config.landing_file:
        landing_file = storage_path(config.landing_file)
        try:
            taken = campaign_data.landing().take(landing_file, config.landing_sha256)
        except OSError as error:
            raise fail(f"{landing_file.name} cannot be moved to archive/, so this "
                        f"run builds nothing: {error}") from None
    meta = request.metadata
    return dg.Output(
        request,
        metadata={
            "request_version": request_version(request),
            "campaign_type": request.campaign_type.value,
            "campaign_name": meta.campaign_name,
            "period": f"{meta.date_start} .. {meta.date_end}",
            "user_files": dg.MetadataValue.json(request.user_files),
            "user_iins_given": len(request.user_iins),
            "control_share": request.control_group.share if request.control_group else 0.0,
            "landing_file_archived_as": taken.name if taken else "",
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
            path = upload_path(uploads, name)
            _unchanged_since_admission(path, campaign_request.user_files_sha256.get(name))
            with storage_for(path).local_copy(path) as local:
                upload = read_upload(local)
        except UploadError as error:
            raise fail(str(error)) from None
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
            "rejected_sample": table(core.rejected_sample(rows), REJECTED_SAMPLE),
        },
    )


def _unchanged_since_admission(path: Path, admitted_sha256: str | None) -> None:
    """The run builds what was admitted: an upload replaced since is refused, not read."""
    if admitted_sha256 and file_fingerprint(path) != admitted_sha256:
        raise UploadError(
            path.name,
            "changed since the request naming it was admitted, so this run would not build "
            "the admitted version",
            "send the request again to admit it with this upload (add `replaces:` if its "
            "campaign is live), or put the admitted upload back",
        )


BLACKLIST_SNAPSHOT = dg.AssetKey(["reference", "blacklist"])
CAMPAIGN_BLACKLIST = dg.AssetKey("campaign_blacklist")


@dg.asset(
    key=CAMPAIGN_BLACKLIST,
    partitions_def=campaigns_partitions,
    group_name=GROUP,
    kinds={"polars"},
    ins={"snapshot": dg.AssetIn(key=BLACKLIST_SNAPSHOT)},
)
def campaign_blacklist(
    context: dg.AssetExecutionContext,
    campaign_request: CampaignRequest,
    snapshot: pl.LazyFrame,
    warehouse: WarehouseResource,
) -> dg.Output[pl.DataFrame]:
    """The blacklist rows (``iin_key``, ``source``) this campaign applies, as they stand when it
    is built: the daily reference/blacklist while it is younger than the warehouse's
    ``blacklist_max_age_s``, else extracted live for the applied sources with the snapshot's
    own SQL and keying. filtered_audience removes, and its blocking check verifies, these rows.
    """
    sources = _applied_sources(campaign_request, warehouse)
    max_age, now = warehouse.blacklist_max_age_s, datetime.now(UTC)
    recorded = _snapshot_record(context.instance)
    kind, reason = blacklist.choose(recorded, sources, max_age, now)
    if kind == blacklist.SNAPSHOT:
        rows, as_of = blacklist.applied_rows(snapshot, sources), recorded.as_of
    else:
        sqls = warehouse.reference_config().blacklists
        fetch = warehouse.adapter().fetch
        rows, _, _ = blacklist.extract_blacklists(fetch, {s: sqls[s] for s in sources})
        as_of = now
    per_source = blacklist.rows_per_source(rows, sources)
    applied = blacklist.provenance(kind, as_of, now, per_source, max_age, reason)
    context.log.info(f"blacklist applied: {applied}")
    return dg.Output(
        rows,
        metadata={
            "blacklist_snapshot": dg.MetadataValue.json(applied),
            "dagster/row_count": rows.height,
        },
    )


def _applied_sources(request: CampaignRequest, warehouse: WarehouseResource) -> list[str]:
    try:
        return blacklists_to_apply(request, warehouse.reference_config().blacklist_sources)
    except RequestError as error:
        raise fail(str(error), error.problems) from None


def _snapshot_record(instance: dg.DagsterInstance) -> blacklist.Snapshot | None:
    """When the daily blacklist was last materialized, and for which sources."""
    event = instance.get_latest_materialization_event(BLACKLIST_SNAPSHOT)
    if event is None or event.asset_materialization is None:
        return None
    counted = event.asset_materialization.metadata.get("rows_per_source")
    return blacklist.Snapshot(
        as_of=datetime.fromtimestamp(event.timestamp, UTC),
        sources=frozenset(counted.value if counted else ()),
    )


def applied_blacklist(instance: dg.DagsterInstance, partition_key: str) -> dict:
    """The ``blacklist_snapshot`` of this campaign's latest campaign_blacklist: which blacklist
    its filter and its blocking check applied, and how old it was."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=CAMPAIGN_BLACKLIST, asset_partitions=[partition_key]),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    recorded = materialization.metadata.get("blacklist_snapshot") if materialization else None
    return recorded.value if recorded else {}


@dg.asset(
    partitions_def=campaigns_partitions,
    group_name=GROUP,
    kinds={"polars"},
    ins={**PROFILE_INS, "campaign_blacklist": dg.AssetIn(key=CAMPAIGN_BLACKLIST)},
)
def filtered_audience(
    context: dg.AssetExecutionContext,
    campaign_request: CampaignRequest,
    raw_audience: pl.LazyFrame,
    warehouse: WarehouseResource,
    customer_profile: pl.LazyFrame,
    vocabulary: pl.DataFrame,
    campaign_blacklist: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Valid IINs through the blacklist (campaign_blacklist: current as of this build, not as
    of the daily refresh), device, push stream, MAU and product filters; the funnel (legacy
    filter_stats names) and the blacklist applied are in the metadata."""
    names = Vocabulary(vocabulary)
    blacklists = _applied_sources(campaign_request, warehouse)
    problems = core.unknown_filter_names(campaign_request.filter_config, names)
    if problems:
        raise fail(str(RequestError(problems)), problems)
    valid = core.valid_iins(raw_audience)
    audience, filtering = core.filter_audience(
        valid,
        campaign_request.filter_config,
        customer_profile,
        names,
        blacklists,
        held_off=_held_off(context.partition_key, campaign_request, warehouse),
        blacklisted=campaign_blacklist,
    )
    stats = core.funnel(core.validation_counts(raw_audience), filtering, audience.height)
    context.log.info(f"funnel: {stats}")
    return dg.Output(
        audience,
        metadata={
            "funnel": table(core.funnel_steps(stats), FUNNEL),
            # The legacy response's names, read back by responses.py (the CLI prints them).
            "filter_stats": dg.MetadataValue.json(stats),
            "blacklists_applied": dg.MetadataValue.json(blacklists),
            "blacklist_snapshot": dg.MetadataValue.json(
                applied_blacklist(context.instance, context.partition_key)
            ),
            "dagster/row_count": audience.height,
        },
    )


def _held_off(
    key: str, request: CampaignRequest, warehouse: WarehouseResource
) -> pl.DataFrame | None:
    """IINs other campaigns hold off-limit over this one's period (``core.audience``)."""
    if request.off_limit_days is None:
        return None
    deployment = warehouse.deployment()
    query = core.off_limit_query(request, deployment.registry(), key)
    held = deployment.off_limit_iins(query.window_from, query.window_to, query.own_code)
    return core.held_off_keys(held)


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
    seed = split_seed(control, context.partition_key)
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
            "strata": table(per_stratum.to_dicts(), STRATA),
            "dagster/row_count": split.height,
        },
    )
