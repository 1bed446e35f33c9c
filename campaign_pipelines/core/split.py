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

from campaign_pipelines.core.audience import Reference
from campaign_pipelines.core.requests import ControlGroup

TARGET, CONTROL = "target", "control"
_MASK64 = (1 << 64) - 1


def seed_number(seed: str) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")


def _mix(key: pl.Expr, seed: int) -> pl.Expr:
    x = key.cast(pl.UInt64) ^ pl.lit(seed, dtype=pl.UInt64)
    x = (x ^ (x // (1 << 30))) * pl.lit(0xBF58476D1CE4E5B9, dtype=pl.UInt64)
    x = (x ^ (x // (1 << 27))) * pl.lit(0x94D049BB133111EB, dtype=pl.UInt64)
    return x ^ (x // (1 << 31))


def strata(audience: pl.DataFrame, reference: Reference, stratify_by: list[str]) -> pl.DataFrame:
    """``iin_key`` → ``stratum`` text such as ``device=android|mau=yes``."""
    keys = audience.select("iin_key")
    parts: list[pl.Expr] = []
    if "device" in stratify_by:
        devices = (
            reference.devices.group_by("iin_key")
            .agg(pl.col("device").unique().sort().str.join("+").alias("device"))
            .collect()
        )
        keys = keys.join(devices, on="iin_key", how="left")
        parts.append(pl.lit("device=") + pl.col("device").fill_null("none"))
    if "mau" in stratify_by:
        active = reference.mau.filter(pl.col("month") == pl.col("month").max())
        active_keys = active.select("iin_key").unique().collect()["iin_key"]
        keys = keys.with_columns(mau=pl.col("iin_key").is_in(active_keys.implode()))
        parts.append(
            pl.lit("mau=") + pl.when(pl.col("mau")).then(pl.lit("yes")).otherwise(pl.lit("no"))
        )
    if "product_count" in stratify_by:
        counts = reference.products.group_by("iin_key").agg(n=pl.len()).collect()
        keys = keys.join(counts, on="iin_key", how="left")
        bucket = pl.col("n").fill_null(0).clip(0, 3).cast(pl.String).replace("3", "3+")
        parts.append(pl.lit("products=") + bucket)
    stratum = pl.concat_str(parts, separator="|") if parts else pl.lit("all")
    return keys.select("iin_key", stratum.alias("stratum"))


def split_audience(
    audience: pl.DataFrame, control: ControlGroup | None, strata_frame: pl.DataFrame, seed: str
) -> pl.DataFrame:
    """The audience with ``group`` (target/control) and ``stratum``; without a control group
    everyone is target."""
    with_strata = audience.join(strata_frame, on="iin_key", how="left")
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
