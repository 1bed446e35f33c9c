"""Reference datasets as stored for filtering: keyed by ``iin_key`` (Int64), one value column.

Sources are whatever the bank has (Oracle NUMBER columns that lost leading zeros, padded
strings); storing them once in this shape is what lets a campaign filter 10M IINs in seconds
without querying the source again.
"""

from __future__ import annotations

import polars as pl

from campaign_pipelines.core.iin import with_clean_iins

# The reference datasets, in the order the profile folds them, and each one's value column: the
# one list the reference assets, the profile and the reference-source config are built from.
VALUE_COLUMNS = {
    "blacklist": "source",
    "devices": "device",
    "push_preferences": "stream",
    "mau": "month",
    "products": "product",
}
DATASETS = tuple(VALUE_COLUMNS)
BLACKLIST = "blacklist"
# Each dataset but the blacklist is one SQL under the config's ``datasets:``; the blacklist is
# the union of its ``blacklists:`` sources.
SQL_DATASETS = tuple(name for name in DATASETS if name != BLACKLIST)


class ReferenceShapeError(ValueError):
    pass


def keyed_reference(frame: pl.DataFrame, dataset: str) -> tuple[pl.DataFrame, int]:
    """(``iin_key``, value) rows without duplicates, and how many rows had no usable IIN."""
    value = VALUE_COLUMNS[dataset]
    columns = {c.lower(): c for c in frame.columns}
    missing = [c for c in ("iin", value) if c not in columns]
    if missing:
        raise ReferenceShapeError(
            f"reference dataset {dataset!r} returned columns {frame.columns}, missing {missing}: "
            f"make its SQL return iin and {value}"
        )
    renamed = frame.select(
        pl.col(columns["iin"]).alias("raw_iin"), pl.col(columns[value]).alias(value)
    )
    if renamed.schema["raw_iin"].is_integer():
        keyed = renamed.with_columns(iin_key=pl.col("raw_iin").cast(pl.Int64))
    else:
        keyed = with_clean_iins(renamed).with_columns(iin_key=pl.col("iin").cast(pl.Int64))
    usable = keyed.filter(pl.col("iin_key").is_not_null() & pl.col(value).is_not_null())
    stored = usable.select("iin_key", value).unique()
    return stored, frame.height - usable.height


def values_of(frame: pl.LazyFrame, dataset: str) -> set[str]:
    value = VALUE_COLUMNS[dataset]
    return set(frame.select(pl.col(value).unique()).collect()[value].to_list())
