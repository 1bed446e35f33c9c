"""Deterministic, stratified target/control split.

Each IIN gets a pseudo-random rank from a fixed mixing function (splitmix64) of its number and a
seed taken from the request, so the same request always gives the same split, on any machine and
any library version (polars' own hash is not stable across releases). Within each stratum the
lowest-ranked ``round(share * size)`` IINs form the control group, which keeps the control
group's mix of devices, activity and products the same as the target's.
"""

from __future__ import annotations

import hashlib

import polars as pl

from campaign_pipelines.core.profile import Vocabulary
from campaign_pipelines.core.requests import ControlGroup

TARGET, CONTROL = "target", "control"


def seed_number(seed: str) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")


def _mix(key: pl.Expr, seed: int) -> pl.Expr:
    x = key.cast(pl.UInt64) ^ pl.lit(seed, dtype=pl.UInt64)
    x = (x ^ (x // (1 << 30))) * pl.lit(0xBF58476D1CE4E5B9, dtype=pl.UInt64)
    x = (x ^ (x // (1 << 27))) * pl.lit(0x94D049BB133111EB, dtype=pl.UInt64)
    return x ^ (x // (1 << 31))


def strata(audience: pl.DataFrame, vocabulary: Vocabulary, stratify_by: list[str]) -> pl.Expr:
    """The ``stratum`` of each row, e.g. ``device=android+iOS|mau=yes``, from the profile
    columns the filtered audience carries."""
    parts: list[pl.Expr] = []
    if "device" in stratify_by:
        masks = audience["device_mask"].unique().to_list()
        labels = vocabulary.labels("devices", masks)
        device = pl.col("device_mask").replace_strict(labels, return_dtype=pl.String)
        parts.append(pl.lit("device=") + device)
    if "mau" in stratify_by:
        active = pl.when(pl.col("mau_latest")).then(pl.lit("yes")).otherwise(pl.lit("no"))
        parts.append(pl.lit("mau=") + active)
    if "product_count" in stratify_by:
        bucket = pl.col("product_count").clip(0, 3).cast(pl.String).replace("3", "3+")
        parts.append(pl.lit("products=") + bucket)
    return pl.concat_str(parts, separator="|") if parts else pl.lit("all")


def split_seed(control: ControlGroup | None, campaign_key: str) -> str:
    """The request's control_group.seed, else the campaign key: rebuilding a campaign draws the
    same control group."""
    return (control.seed if control else None) or campaign_key


def split_audience(
    audience: pl.DataFrame, control: ControlGroup | None, stratum: pl.Expr, seed: str
) -> pl.DataFrame:
    """``iin``, ``iin_key``, ``stratum`` and ``group`` (target/control); without a control
    group everyone is target."""
    with_strata = audience.select("iin", "iin_key", stratum.alias("stratum"))
    if control is None:
        return with_strata.with_columns(group=pl.lit(TARGET))
    rank = _mix(pl.col("iin_key"), seed_number(seed)).rank("ordinal").over("stratum")
    quota = (pl.len().over("stratum") * control.share).round(0)
    return with_strata.with_columns(
        group=pl.when(rank <= quota).then(pl.lit(CONTROL)).otherwise(pl.lit(TARGET))
    )


def split_counts(split: pl.DataFrame) -> pl.DataFrame:
    """Per stratum: size, target and control counts (for the UI)."""
    return (
        split.group_by("stratum")
        .agg(
            size=pl.len(),
            target=(pl.col("group") == TARGET).sum(),
            control=(pl.col("group") == CONTROL).sum(),
        )
        .sort("stratum")
    )
