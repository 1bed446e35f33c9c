"""From received rows to the filtered audience, with the funnel that explains every drop.

Rows carry where they came from (``source``: an upload's name or ``user_iins``; ``row``: the row
a person sees), so a rejected value can be pointed at. Filtering joins on ``iin_key``, the IIN as
Int64: the same 12 digits, but joins on integers are several times faster than on strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from campaign_pipelines.core.blacklist import remove_blacklisted
from campaign_pipelines.core.iin import invalid_reason, mask_iin, with_clean_iins
from campaign_pipelines.core.profile import Vocabulary
from campaign_pipelines.core.requests import CampaignRequest, FilterConfig, unknown_name_problem

OK, INVALID, BAD_CHECK_DIGIT, DUPLICATE = "ok", "invalid_iin", "bad_check_digit", "duplicate"

RAW_SCHEMA = {"source": pl.String, "row": pl.Int64, "raw_iin": pl.String}


def classify_rows(raw: pl.DataFrame, *, strict_checksum: bool) -> pl.DataFrame:
    """Every received row with its clean ``iin``, ``iin_key`` and a ``status``.

    A row is ``invalid_iin`` when it stands for no 12-digit number, ``bad_check_digit`` when its
    check digit is wrong and the request is strict, ``duplicate`` when an earlier row (in
    source order) already gave the same IIN, else ``ok``.
    """
    cleaned = (
        with_clean_iins(raw.with_row_index("position"))
        .sort("position")
        .with_columns(iin_key=pl.col("iin").cast(pl.Int64))
    )
    bad_digit = ~pl.col("check_digit_ok") & pl.lit(strict_checksum)
    status = (
        pl.when(pl.col("iin").is_null())
        .then(pl.lit(INVALID))
        .when(bad_digit)
        .then(pl.lit(BAD_CHECK_DIGIT))
        .when(~pl.col("iin_key").is_first_distinct())
        .then(pl.lit(DUPLICATE))
        .otherwise(pl.lit(OK))
    )
    return cleaned.with_columns(status=status).drop("position")


def validation_counts(rows: pl.DataFrame | pl.LazyFrame) -> dict[str, int]:
    status = pl.col("status")
    bad_digit = ~pl.col("check_digit_ok") & pl.col("iin").is_not_null()
    counts = (
        rows.lazy()
        .select(
            initial_count=pl.len(),
            invalid_iin_removed=status.is_in([INVALID, BAD_CHECK_DIGIT]).sum(),
            bad_check_digit=bad_digit.sum(),
            bad_check_digit_kept=(bad_digit & status.is_in([OK, DUPLICATE])).sum(),
            leading_zeros_restored=pl.col("zeros_restored").sum(),
            duplicates_removed=(status == DUPLICATE).sum(),
            after_validation=(status == OK).sum(),
        )
        .collect()
    )
    return {name: int(value) for name, value in counts.row(0, named=True).items()}


def valid_iins(rows: pl.LazyFrame) -> pl.DataFrame:
    """One row per accepted IIN (``iin``, ``iin_key``), in the order received."""
    return rows.filter(pl.col("status") == OK).select("iin", "iin_key").collect()


def unknown_filter_names(filters: FilterConfig, vocabulary: Vocabulary) -> list[dict]:
    """Names in the request that the reference data has never seen (case-insensitive)."""
    problems = []
    for field, dataset in (
        ("devices", "devices"),
        ("push_streams", "push_preferences"),
        ("products", "products"),
        ("exclude_products", "products"),
    ):
        known = vocabulary.known(dataset)
        known_folded = {k.casefold() for k in known}
        for i, name in enumerate(getattr(filters, field)):
            if name.casefold() not in known_folded:
                problems.append(unknown_name_problem(f"filter_config.{field}[{i}]", name, known))
    return problems


PROFILE_COLUMNS = (
    "blacklist_mask",
    "device_mask",
    "stream_mask",
    "product_mask",
    "product_count",
    "mau_latest",
)


def filter_audience(
    valid: pl.DataFrame,
    filters: FilterConfig,
    profile: pl.LazyFrame,
    vocabulary: Vocabulary,
    blacklists: list[str],
    held_off: pl.DataFrame | None = None,
    *,
    blacklisted: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Blacklist, device, push stream, MAU, product: in that order, each step counted.

    ``valid`` holds one row per IIN (``iin``, ``iin_key``); ``blacklists`` are the sources to
    apply, already checked against the configuration; ``held_off`` (``iin_key``), when given,
    are users other campaigns hold off-limit, removed last. ``blacklisted`` (``iin_key``), when
    given, is the blacklist as it stands for this campaign (core/blacklist.py): it replaces the
    profile's blacklist bits, which are only as fresh as the daily refresh, and the funnel's
    blacklist step counts exactly whom it removed. The result keeps the profile columns, which
    the split stratifies on.
    """
    keys = valid.select("iin", "iin_key")
    audience = (
        keys.lazy()
        .join(profile.select("iin_key", *PROFILE_COLUMNS), on="iin_key", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in PROFILE_COLUMNS if c != "mau_latest")
        .with_columns(pl.col("mau_latest").fill_null(False))
        .collect()
    )
    stats: dict[str, int] = {}

    def any_bit(column: str, dataset: str, names: list[str]) -> pl.Expr:
        wanted = pl.lit(vocabulary.mask(dataset, names), dtype=pl.UInt64)
        return (pl.col(column) & wanted) != 0

    if blacklisted is None:
        audience = audience.filter(~any_bit("blacklist_mask", "blacklist", blacklists))
    else:
        audience = remove_blacklisted(audience, blacklisted)
    stats["after_blacklist"] = audience.height
    stats["blacklist_removed"] = valid.height - audience.height
    if filters.devices:
        audience = audience.filter(any_bit("device_mask", "devices", filters.devices))
    stats["after_device"] = audience.height
    if filters.push_streams:
        audience = audience.filter(any_bit("stream_mask", "push_preferences", filters.push_streams))
    stats["after_push"] = audience.height
    if filters.mau_only:
        audience = audience.filter(pl.col("mau_latest"))
    stats["after_mau"] = audience.height
    if filters.products:
        audience = audience.filter(any_bit("product_mask", "products", filters.products))
    if filters.exclude_products:
        audience = audience.filter(~any_bit("product_mask", "products", filters.exclude_products))
    stats["after_product"] = audience.height
    if held_off is not None:
        audience = audience.join(held_off.select("iin_key"), on="iin_key", how="anti")
        stats["after_off_limit"] = audience.height
    return audience, stats


# Who is left after each step, in pipeline order (a step absent from a campaign is skipped).
FUNNEL_STEPS = (
    "initial_count",
    "after_validation",
    "after_blacklist",
    "after_device",
    "after_push",
    "after_mau",
    "after_product",
    "after_off_limit",
)
# The order a person reads filter_stats in: what validation dropped, the funnel, the split.
REPORT_ORDER = (
    "initial_count",
    "invalid_iin_removed",
    "duplicates_removed",
    *FUNNEL_STEPS[1:],
    "final_count",
    "target_count",
    "control_count",
)


def funnel(validation: dict[str, int], filtering: dict[str, int], final_count: int) -> dict:
    """The legacy filter_stats names plus this project's; ``total_removed`` covers every drop."""
    return {
        **validation,
        **filtering,
        "final_count": final_count,
        "total_removed": validation["initial_count"] - final_count,
    }


def funnel_steps(stats: dict[str, int]) -> list[dict[str, object]]:
    """Each step the campaign took, in order: who is left after it and whom it removed."""
    steps = [s for s in FUNNEL_STEPS if s in stats]
    return [
        {
            "step": "received" if step == "initial_count" else step.removeprefix("after_"),
            "rows_left": stats[step],
            "removed": None if before is None else stats[before] - stats[step],
        }
        for before, step in zip([None, *steps], steps, strict=False)
    ]


def rows_from_request_iins(user_iins: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"source": "user_iins", "row": range(1, len(user_iins) + 1), "raw_iin": user_iins},
        schema=RAW_SCHEMA,
    )


_REASONS = {
    BAD_CHECK_DIGIT: "the check digit does not match",
    DUPLICATE: "an earlier row gave the same IIN",
}


def rejected_sample(rows: pl.DataFrame, limit: int = 10) -> list[dict[str, object]]:
    """The first rejected rows, masked, for the UI: where they are and why (an invalid value's
    reason in words, e.g. non-ASCII digits or a negative number, never the value itself)."""
    rejected = rows.filter(pl.col("status") != OK).head(limit)
    return [
        {
            "source": r["source"],
            "row": r["row"],
            "value": mask_iin(r["raw_iin"]),
            "status": r["status"],
            "reason": _REASONS.get(r["status"]) or invalid_reason(r["raw_iin"]),
        }
        for r in rejected.iter_rows(named=True)
    ]


@dataclass(frozen=True)
class OffLimitQuery:
    """Whose off-limit users a campaign leaves alone: those of campaigns ending on or after
    ``window_from`` and starting on or before ``window_to``, except ``own_code``'s."""

    window_from: date
    window_to: date
    own_code: str | None


def off_limit_window(request: CampaignRequest, days: int) -> tuple[date, date]:
    """Campaigns ending on or after ``from`` and starting on or before ``to`` overlap the new
    one or ended within ``days`` before it starts."""
    meta = request.metadata
    return meta.date_start - timedelta(days=days), meta.date_end


def off_limit_query(
    request: CampaignRequest, registry: pl.DataFrame, campaign_key: str
) -> OffLimitQuery | None:
    """The off-limit holds that count against this campaign, or None when it asks for no
    off-limit filter. Its own earlier deployment (the code the registry holds for
    ``campaign_key``) never holds its own users back."""
    if request.off_limit_days is None:
        return None
    own = registry.filter(pl.col("campaign_key") == campaign_key)
    own_code = own["campaign_code"][0] if own.height else None
    window_from, window_to = off_limit_window(request, request.off_limit_days)
    return OffLimitQuery(window_from, window_to, own_code)


def held_off_keys(held: pl.DataFrame) -> pl.DataFrame:
    """The held-off ``iin`` strings as the ``iin_key`` that ``filter_audience`` removes."""
    return held.select(iin_key=pl.col("iin").cast(pl.Int64, strict=False)).drop_nulls()
