"""Blocking checks: a campaign whose audience breaks one of these goes no further.

A failed check on filtered_audience stops its run before audience_split, one on audience_split
before campaign_codes: that run allocates no code and writes no deployment table. Each result's
``offending_rows`` says how many rows broke the rule."""

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


def _blocking(asset, description: str, **reads: str | dg.AssetKey):
    """A blocking check of one campaign partition of ``asset``, described in the catalog by
    what it guarantees and what its failure means; ``reads`` names the other assets it reads
    (argument name: asset key)."""
    return dg.asset_check(
        asset=asset,
        description=description,
        blocking=True,
        partitions_def=campaigns_partitions,
        additional_ins={name: dg.AssetIn(key=key) for name, key in reads.items()},
    )


def _result(offending: int, what: str, **more: dg.MetadataValue) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=offending == 0,
        metadata={"offending_rows": offending, "rule": what, **more},
    )


@_blocking(
    filtered_audience,
    "Every IIN in the audience is 12 digits, with a correct check digit when the request sets "
    "strict_iin_checksum. A failure means validation let a malformed IIN through: its run "
    "stops before audience_split, so nothing is deployed.",
    campaign_request="campaign_request",
)
def iins_are_valid(
    filtered_audience: pl.DataFrame, campaign_request: CampaignRequest
) -> dg.AssetCheckResult:
    strict = campaign_request.strict_iin_checksum
    offending = rules.malformed_iins(filtered_audience, require_check_digit=strict)
    return _result(offending, "12 digits" + (" with a correct check digit" if strict else ""))


@_blocking(
    filtered_audience,
    "Each IIN is in the audience at most once. A failure means a duplicate survived "
    "validation, so someone would be contacted twice: its run stops before audience_split, "
    "so nothing is deployed.",
)
def no_duplicate_iins(filtered_audience: pl.DataFrame) -> dg.AssetCheckResult:
    return _result(rules.duplicate_iins(filtered_audience), "each IIN at most once")


@_blocking(
    filtered_audience,
    "Nobody in the audience is on a blacklist the campaign applies, as campaign_blacklist "
    "held it when the campaign was built: the daily snapshot while younger than "
    "blacklist_max_age_s, else a live extract (blacklist_snapshot says which). A "
    "failure means the blacklist filter missed someone: its run stops before audience_split, "
    "so nothing is deployed.",
    campaign_request="campaign_request",
    blacklist=CAMPAIGN_BLACKLIST,
)
def no_blacklisted_iins(
    context: dg.AssetCheckExecutionContext,
    filtered_audience: pl.DataFrame,
    campaign_request: CampaignRequest,
    blacklist: pl.LazyFrame,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    sources = blacklists_to_apply(campaign_request, warehouse.reference_config().blacklist_sources)
    offending = rules.blacklisted_iins(filtered_audience, blacklist, sources)
    applied = applied_blacklist(context.instance, context.partition_key)
    return _result(
        offending,
        f"nobody listed in {sources}",
        blacklist_snapshot=dg.MetadataValue.json(applied),
    )


@_blocking(
    filtered_audience,
    "Every IIN in the audience is a valid row the campaign received (so the audience is never "
    "larger than after_validation). A failure means the filter added someone who was not "
    "asked for or was rejected: its run stops before audience_split, so nothing is deployed.",
    raw_audience="raw_audience",
)
def audience_drawn_from_valid_rows(
    filtered_audience: pl.DataFrame, raw_audience: pl.LazyFrame
) -> dg.AssetCheckResult:
    valid = valid_iins(raw_audience)
    offending = rules.iins_not_in(filtered_audience, valid)
    return _result(offending, "every audience IIN is a valid received row; final ≤ validated")


@_blocking(
    "audience_split",
    "Every user of the split is in exactly one of target and control. A failure means "
    "someone would both get the campaign and count as its control, or has no group: its "
    "run stops before campaign_codes, so nothing is deployed.",
)
def target_control_disjoint(audience_split: pl.DataFrame) -> dg.AssetCheckResult:
    offending = rules.target_control_overlap(audience_split) + rules.unknown_groups(audience_split)
    return _result(offending, "no IIN in both target and control")


@_blocking(
    "audience_split",
    "target + control is exactly the filtered audience: the same IINs, the same count. A "
    "failure means the split lost or added users: its run stops before campaign_codes, so "
    "nothing is deployed.",
    filtered_audience="filtered_audience",
)
def split_counts_add_up(
    audience_split: pl.DataFrame, filtered_audience: pl.DataFrame
) -> dg.AssetCheckResult:
    missing = rules.iins_not_in(filtered_audience, audience_split)
    extra = rules.iins_not_in(audience_split, filtered_audience)
    size_gap = abs(audience_split.height - filtered_audience.height)
    result = _result(missing + extra + size_gap, "target + control = filtered audience")
    return result
