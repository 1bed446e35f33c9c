"""Blocking checks: a campaign whose audience breaks one of these goes no further."""

import dagster as dg
import polars as pl

from campaign_pipelines.core import audience_checks as rules
from campaign_pipelines.core.audience import valid_iins
from campaign_pipelines.core.requests import CampaignRequest, blacklists_to_apply
from campaign_pipelines.defs.audiences.assets import (
    CAMPAIGN_BLACKLIST,
    applied_blacklist,
    filtered_audience,
)
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import WarehouseResource


def _blocking(asset, **reads: str | dg.AssetKey):
    """A blocking check of one campaign partition of ``asset``; ``reads`` names the other
    assets it reads (argument name: asset key)."""
    return dg.asset_check(
        asset=asset,
        blocking=True,
        partitions_def=campaigns_partitions,
        additional_ins={name: dg.AssetIn(key=key) for name, key in reads.items()},
    )


def _result(offending: int, what: str, **more: dg.MetadataValue) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=offending == 0,
        metadata={"offending_rows": offending, "rule": what, **more},
    )


@_blocking(filtered_audience, campaign_request="campaign_request")
def iins_are_valid(
    filtered_audience: pl.DataFrame, campaign_request: CampaignRequest
) -> dg.AssetCheckResult:
    strict = campaign_request.strict_iin_checksum
    offending = rules.malformed_iins(filtered_audience, require_check_digit=strict)
    return _result(offending, "12 digits" + (" with a correct check digit" if strict else ""))


@_blocking(filtered_audience)
def no_duplicate_iins(filtered_audience: pl.DataFrame) -> dg.AssetCheckResult:
    return _result(rules.duplicate_iins(filtered_audience), "each IIN at most once")


@_blocking(filtered_audience, campaign_request="campaign_request", blacklist=CAMPAIGN_BLACKLIST)
def no_blacklisted_iins(
    context: dg.AssetCheckExecutionContext,
    filtered_audience: pl.DataFrame,
    campaign_request: CampaignRequest,
    blacklist: pl.LazyFrame,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    """Against campaign_blacklist, the blacklist as it stood when this campaign was built (not
    the daily snapshot when that was older than the warehouse's blacklist_max_age_s)."""
    sources = blacklists_to_apply(campaign_request, warehouse.reference_config().blacklist_sources)
    offending = rules.blacklisted_iins(filtered_audience, blacklist, sources)
    applied = applied_blacklist(context.instance, context.partition_key)
    return _result(
        offending,
        f"nobody listed in {sources}",
        blacklist_snapshot=dg.MetadataValue.json(applied),
    )


@_blocking(filtered_audience, raw_audience="raw_audience")
def audience_drawn_from_valid_rows(
    filtered_audience: pl.DataFrame, raw_audience: pl.LazyFrame
) -> dg.AssetCheckResult:
    valid = valid_iins(raw_audience)
    offending = rules.iins_not_in(filtered_audience, valid)
    return _result(offending, "every audience IIN is a valid received row; final ≤ validated")


@_blocking("audience_split")
def target_control_disjoint(audience_split: pl.DataFrame) -> dg.AssetCheckResult:
    offending = rules.target_control_overlap(audience_split) + rules.unknown_groups(audience_split)
    return _result(offending, "no IIN in both target and control")


@_blocking("audience_split", filtered_audience="filtered_audience")
def split_counts_add_up(
    audience_split: pl.DataFrame, filtered_audience: pl.DataFrame
) -> dg.AssetCheckResult:
    missing = rules.iins_not_in(filtered_audience, audience_split)
    extra = rules.iins_not_in(audience_split, filtered_audience)
    size_gap = abs(audience_split.height - filtered_audience.height)
    result = _result(missing + extra + size_gap, "target + control = filtered audience")
    return result
