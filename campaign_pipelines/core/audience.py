"""From received rows to the filtered audience, with the funnel that explains every drop.

Rows carry where they came from (``source``: an upload's name or ``user_iins``; ``row``: the row
a person sees), so a rejected value can be pointed at. Filtering joins on ``iin_key``, the IIN as
Int64: the same 12 digits, but joins on integers are several times faster than on strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from campaign_pipelines.core.iin import mask_iin, with_clean_iins
from campaign_pipelines.core.requests import FilterConfig, unknown_name_problem

OK, INVALID, BAD_CHECK_DIGIT, DUPLICATE = "ok", "invalid_iin", "bad_check_digit", "duplicate"

RAW_SCHEMA = {"source": pl.String, "row": pl.Int64, "raw_iin": pl.String}


def classify_rows(raw: pl.DataFrame, *, strict_checksum: bool) -> pl.DataFrame:
    """Every received row with its clean ``iin``, ``iin_key`` and a ``status``.

    A row is ``invalid_iin`` when it stands for no 12-digit number, ``bad_check_digit`` when its
    check digit is wrong and the request is strict, ``duplicate`` when an earlier row (in
    source order) already gave the same IIN, else ``ok``.
    """
    cleaned = with_clean_iins(raw.with_row_index("position")).sort("position")
    bad_digit = ~pl.col("check_digit_ok") & pl.lit(strict_checksum)
    status = (
        pl.when(pl.col("iin").is_null())
        .then(pl.lit(INVALID))
        .when(bad_digit)
        .then(pl.lit(BAD_CHECK_DIGIT))
        .when(~pl.col("iin").is_first_distinct())
        .then(pl.lit(DUPLICATE))
        .otherwise(pl.lit(OK))
    )
    return cleaned.with_columns(status=status, iin_key=pl.col("iin").cast(pl.Int64)).drop(
        "position"
    )


def validation_counts(rows: pl.DataFrame) -> dict[str, int]:
    counts = dict(rows.group_by("status").len().iter_rows())
    bad_digit_kept = rows.filter(pl.col("status").is_in([OK, DUPLICATE]))
    return {
        "initial_count": rows.height,
        "invalid_iin_removed": counts.get(INVALID, 0) + counts.get(BAD_CHECK_DIGIT, 0),
        "bad_check_digit": int((~rows["check_digit_ok"] & rows["iin"].is_not_null()).sum()),
        "bad_check_digit_kept": int((~bad_digit_kept["check_digit_ok"]).sum()),
        "leading_zeros_restored": int(rows["zeros_restored"].sum()),
        "duplicates_removed": counts.get(DUPLICATE, 0),
        "after_validation": counts.get(OK, 0),
    }


@dataclass(frozen=True)
class Reference:
    """The stored reference datasets, each keyed by ``iin_key`` (Int64)."""

    blacklist: pl.LazyFrame  # iin_key, source
    devices: pl.LazyFrame  # iin_key, device
    push_preferences: pl.LazyFrame  # iin_key, stream
    mau: pl.LazyFrame  # iin_key, month
    products: pl.LazyFrame  # iin_key, product


def unknown_filter_names(filters: FilterConfig, vocabulary: dict[str, set[str]]) -> list[dict]:
    """Names in the request that the reference data has never seen (case-insensitive)."""
    problems = []
    for field, dataset in (
        ("devices", "devices"),
        ("push_streams", "push_streams"),
        ("products", "products"),
        ("exclude_products", "products"),
    ):
        known = vocabulary[dataset]
        known_folded = {k.casefold() for k in known}
        for i, name in enumerate(getattr(filters, field)):
            if name.casefold() not in known_folded:
                problems.append(unknown_name_problem(f"filter_config.{field}[{i}]", name, known))
    return problems


def filter_audience(
    valid: pl.DataFrame, filters: FilterConfig, reference: Reference, blacklists: list[str]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Blacklist, device, push stream, MAU, product: in that order, each step counted.

    ``valid`` holds one row per IIN (columns ``iin``, ``iin_key``); ``blacklists`` are the
    sources to apply (already resolved against the configuration).
    """
    audience = valid.select("iin", "iin_key")
    stats: dict[str, int] = {}

    listed = reference.blacklist.filter(pl.col("source").is_in(blacklists))
    audience = _drop_keys(audience, listed)
    stats["after_blacklist"] = audience.height
    stats["blacklist_removed"] = valid.height - audience.height

    audience = _keep_keys(audience, _matching(reference.devices, "device", filters.devices))
    stats["after_device"] = audience.height
    streams = _matching(reference.push_preferences, "stream", filters.push_streams)
    audience = _keep_keys(audience, streams)
    stats["after_push"] = audience.height
    audience = _keep_keys(audience, _latest_month(reference.mau) if filters.mau_only else None)
    stats["after_mau"] = audience.height
    audience = _keep_keys(audience, _matching(reference.products, "product", filters.products))
    excluded = _matching(reference.products, "product", filters.exclude_products)
    audience = _drop_keys(audience, excluded)
    stats["after_product"] = audience.height
    return audience, stats


def _matching(frame: pl.LazyFrame, column: str, names: list[str]) -> pl.LazyFrame | None:
    if not names:
        return None
    wanted = [n.casefold() for n in names]
    return frame.filter(pl.col(column).str.to_lowercase().is_in(wanted))


def _latest_month(mau: pl.LazyFrame) -> pl.LazyFrame:
    return mau.filter(pl.col("month") == pl.col("month").max())


def _keep_keys(audience: pl.DataFrame, keep: pl.LazyFrame | None) -> pl.DataFrame:
    if keep is None:
        return audience
    keys = keep.select("iin_key").unique().collect()
    return audience.join(keys, on="iin_key", how="semi")


def _drop_keys(audience: pl.DataFrame, drop: pl.LazyFrame | None) -> pl.DataFrame:
    if drop is None:
        return audience
    keys = drop.select("iin_key").unique().collect()
    return audience.join(keys, on="iin_key", how="anti")


def funnel(validation: dict[str, int], filtering: dict[str, int], final_count: int) -> dict:
    """The legacy filter_stats names plus this project's; ``total_removed`` covers every drop."""
    return {
        **validation,
        **filtering,
        "final_count": final_count,
        "total_removed": validation["initial_count"] - final_count,
    }


def rows_from_request_iins(user_iins: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"source": "user_iins", "row": range(1, len(user_iins) + 1), "raw_iin": user_iins},
        schema=RAW_SCHEMA,
    )


def rejected_sample(rows: pl.DataFrame, limit: int = 10) -> list[dict[str, object]]:
    """The first rejected rows, masked, for the UI: where they are and why."""
    rejected = rows.filter(pl.col("status") != OK).head(limit)
    return [
        {
            "source": r["source"],
            "row": r["row"],
            "value": mask_iin(r["raw_iin"]),
            "status": r["status"],
        }
        for r in rejected.iter_rows(named=True)
    ]
