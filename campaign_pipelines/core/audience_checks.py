"""Invariants every audience must hold before anything downstream may use it.

Each returns the offending rows' count (0 means the invariant holds), computed from the stored
data itself rather than trusted from the step that produced it.
"""

from __future__ import annotations

import polars as pl

from campaign_pipelines.core.iin import IIN_LENGTH, with_check_digit_flag
from campaign_pipelines.core.split import CONTROL, TARGET


def malformed_iins(audience: pl.DataFrame, *, require_check_digit: bool) -> int:
    well_formed = pl.col("iin").str.contains(rf"^\d{{{IIN_LENGTH}}}$").fill_null(False)
    bad = audience.filter(~well_formed).height
    if require_check_digit:
        flagged = with_check_digit_flag(audience.select("iin").filter(well_formed))
        bad += flagged.filter(~pl.col("check_digit_ok")).height
    return bad


def duplicate_iins(audience: pl.DataFrame) -> int:
    return audience.height - audience["iin"].n_unique()


def blacklisted_iins(audience: pl.DataFrame, blacklist: pl.LazyFrame, sources: list[str]) -> int:
    listed = blacklist.filter(pl.col("source").is_in(sources)).select("iin_key").unique().collect()
    return audience.join(listed, on="iin_key", how="semi").height


def iins_not_in(subset: pl.DataFrame, superset: pl.DataFrame) -> int:
    return subset.join(superset.select("iin_key"), on="iin_key", how="anti").height


def target_control_overlap(split: pl.DataFrame) -> int:
    target = split.filter(pl.col("group") == TARGET).select("iin_key")
    control = split.filter(pl.col("group") == CONTROL).select("iin_key")
    return target.join(control, on="iin_key", how="semi").height


def unknown_groups(split: pl.DataFrame) -> int:
    return split.filter(~pl.col("group").is_in([TARGET, CONTROL])).height
