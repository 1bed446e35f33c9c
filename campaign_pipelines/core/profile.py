"""The customer profile: every reference dataset folded into one row per customer.

Filtering a 10M-row list against five datasets of 10–20M rows each would take five hash joins
per campaign. Folding the datasets once a day into one row per IIN (a bit per blacklist
source, device, push stream and product; the latest-month activity flag; the product count)
turns every campaign's filtering into one join and a few bitwise tests.

Bits are assigned per dataset in sorted order of the values present (the ``vocabulary``), at
most 64 per dataset; more than that is a modelling problem in the reference SQL, reported as
such.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from campaign_pipelines.core.reference import VALUE_COLUMNS

_MASK_COLUMNS = {  # the datasets folded into a bit mask (mau is a flag) -> mask column
    "blacklist": "blacklist_mask",
    "devices": "device_mask",
    "push_preferences": "stream_mask",
    "products": "product_mask",
}
MASKS = {  # dataset -> (value column, mask column)
    dataset: (VALUE_COLUMNS[dataset], mask) for dataset, mask in _MASK_COLUMNS.items()
}
MAX_VALUES = 64
VOCABULARY_SCHEMA = {"dataset": pl.String, "value": pl.String, "bit": pl.UInt8}


class ProfileError(ValueError):
    pass


def vocabulary_frame(datasets: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    """(dataset, value, bit) for every value of every masked dataset."""
    parts = []
    for dataset, (column, _) in MASKS.items():
        values = datasets[dataset].select(pl.col(column).unique().sort()).collect()[column]
        if values.len() > MAX_VALUES:
            raise ProfileError(
                f"reference dataset {dataset!r} has {values.len()} distinct {column} values; at "
                f"most {MAX_VALUES} can be filtered on: group them into categories in its SQL"
            )
        parts.append(
            pl.DataFrame(
                {"dataset": dataset, "value": values, "bit": range(values.len())},
                schema=VOCABULARY_SCHEMA,
            )
        )
    return pl.concat(parts)


def build_profile(datasets: dict[str, pl.LazyFrame], vocabulary: pl.DataFrame) -> pl.DataFrame:
    """One row per IIN present in any dataset; masks are 0 and flags false where absent."""
    folded = [_folded_mask(datasets[d], vocabulary, d) for d in MASKS]
    mau = datasets["mau"]
    active = mau.filter(pl.col("month") == pl.col("month").max()).select("iin_key").unique()
    keys = pl.concat([f.select("iin_key") for f in folded] + [mau.select("iin_key")]).unique()
    profile = keys
    for frame in folded:
        profile = profile.join(frame, on="iin_key", how="left")
    profile = profile.join(active.with_columns(mau_latest=pl.lit(True)), on="iin_key", how="left")
    masks = [mask for _, mask in MASKS.values()]
    return (
        profile.with_columns(
            pl.col(masks).fill_null(0),
            pl.col("product_count").fill_null(0),
            pl.col("mau_latest").fill_null(False),
        )
        .drop([f"{m}_count" for m in masks if m != "product_mask"])
        .collect()
    )


def _folded_mask(frame: pl.LazyFrame, vocabulary: pl.DataFrame, dataset: str) -> pl.LazyFrame:
    column, mask = MASKS[dataset]
    bits = vocabulary.filter(pl.col("dataset") == dataset).select(
        pl.col("value").alias(column), flag=pl.lit(2, dtype=pl.UInt64).pow(pl.col("bit"))
    )
    count_name = "product_count" if dataset == "products" else f"{mask}_count"
    return (
        frame.join(bits.lazy(), on=column, how="inner")
        .group_by("iin_key")
        .agg(pl.col("flag").sum().cast(pl.UInt64).alias(mask), pl.len().alias(count_name))
    )


@dataclass(frozen=True)
class Vocabulary:
    """Names to bits, matched case-insensitively."""

    frame: pl.DataFrame

    def known(self, dataset: str) -> set[str]:
        return set(self.frame.filter(pl.col("dataset") == dataset)["value"])

    def mask(self, dataset: str, names: list[str]) -> int:
        wanted = {n.casefold() for n in names}
        rows = self.frame.filter(pl.col("dataset") == dataset).iter_rows(named=True)
        return sum(1 << r["bit"] for r in rows if r["value"].casefold() in wanted)

    def labels(self, dataset: str, masks: list[int]) -> dict[int, str]:
        """``mask`` → ``"android+iOS"`` (``"none"`` for 0), for the masks given."""
        values = {
            r["bit"]: r["value"]
            for r in self.frame.filter(pl.col("dataset") == dataset).iter_rows(named=True)
        }
        return {
            m: "+".join(values[b] for b in sorted(values) if m >> b & 1) or "none" for m in masks
        }
