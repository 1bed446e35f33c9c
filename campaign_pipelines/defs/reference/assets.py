"""Reference datasets extracted from the warehouse once a day and stored as Parquet, so that
filtering a campaign never queries the source again; the one exception is the blacklist, which
a campaign re-extracts live when this snapshot is older than ``blacklist_max_age_s``
(``campaign_blacklist``).

Extracts stream (``WarehouseReader.extract``): the warehouse hands over batches of 50,000 rows,
each is keyed (``core.reference.keyed_reference``) as it arrives and written to a staging Parquet
file, so the raw 10M-row result is never in memory; the staged rows are then made distinct across
batches (``extract.distinct_rows``, within a fixed memory budget), which is the stored dataset.
The staging file lives in a temporary folder (``TMPDIR``) for the step and is removed with it.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.warehouse.extract import distinct_rows
from campaign_pipelines.adapters.warehouse.protocol import WarehouseReader
from campaign_pipelines.core.blacklist import extract_blacklists
from campaign_pipelines.core.profile import build_profile, vocabulary_frame
from campaign_pipelines.core.reference import DATASETS, keyed_reference, values_of
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.resources import WarehouseResource
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY

GROUP = "reference"


@dg.asset(
    key=["reference", "blacklist"],
    group_name=GROUP,
    kinds={"polars", "parquet"},
    pool="warehouse",
    retry_policy=WAREHOUSE_RETRY,
)
def reference_blacklist(warehouse: WarehouseResource) -> dg.Output[pl.DataFrame]:
    """Every configured blacklist source, labelled with its name (``iin_key``, ``source``).
    A campaign applies this snapshot while it is young enough, else extracts its sources live
    with the same function (``campaign_blacklist``)."""
    frame, per_source, dropped = warehouse_work(
        "reference/blacklist",
        lambda: extract_blacklists(
            lambda sql: _streamed_frame(warehouse.adapter(), sql),
            warehouse.reference_config().blacklists,
        ),
    )
    return dg.Output(
        frame,
        metadata={
            "dagster/row_count": frame.height,
            "rows_without_usable_iin": dropped,
            "rows_per_source": dg.MetadataValue.json(per_source),
        },
    )


def _reference_asset(dataset: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=dataset,
        key_prefix="reference",
        group_name=GROUP,
        kinds={"polars", "parquet"},
        pool="warehouse",
        retry_policy=WAREHOUSE_RETRY,
        description=description,
    )
    def _extract(warehouse: WarehouseResource) -> dg.Output[pl.DataFrame]:
        frame, dropped = warehouse_work(
            f"reference/{dataset}",
            lambda: _streamed_reference(
                warehouse.adapter(), warehouse.reference_config().datasets[dataset], dataset
            ),
        )
        metadata = {"dagster/row_count": frame.height, "rows_without_usable_iin": dropped}
        if dataset != "mau":
            metadata["values"] = dg.MetadataValue.json(sorted(values_of(frame.lazy(), dataset)))
        else:
            metadata["latest_month"] = str(frame["month"].max())
        return dg.Output(frame, metadata=metadata)

    return _extract


@contextmanager
def _staging(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="campaign-reference-") as folder:
        yield Path(folder) / f"{name}.parquet"


def _streamed_reference(reader: WarehouseReader, sql: str, dataset: str) -> tuple[
        pl.DataFrame, int]:
    """``keyed_reference`` of the query's rows, applied batch by batch as they stream in;
    a row repeated in two batches is kept once, as ``keyed_reference`` keeps it once."""
    dropped = 0

    def keyed(batch: pl.DataFrame) -> pl.DataFrame:
        nonlocal dropped
        stored, unusable = keyed_reference(batch, dataset)
        dropped += unusable
        return stored

    with _staging(dataset) as staged:
        reader.extract(sql, staged, transform=keyed)
        return distinct_rows(staged), dropped


def _streamed_frame(reader: WarehouseReader, sql: str) -> pl.DataFrame:
    """One blacklist source's rows, fetched in batches (few round trips) and read back whole:
    ``extract_blacklists`` takes each source as a frame, as the live blacklist of a campaign
    does, and blacklists are a few hundred thousand rows, not the 10M of the datasets."""
    with _staging("blacklist-source") as staged:
        reader.extract(sql, staged)
        return pl.read_parquet(staged)


reference_devices = _reference_asset("devices", "Client devices (``iin_key``, ``device``).")
reference_push_preferences = _reference_asset(
    "push_preferences", "Push streams each client accepts (``iin_key``, ``stream``)."
)
reference_mau = _reference_asset("mau", "Monthly active users (``iin_key``, ``month``).")
reference_products = _reference_asset("products", "Products each client holds.")


@dg.multi_asset(
    outs={
        "customer_profile": dg.AssetOut(
            key=["reference", "customer_profile"], group_name=GROUP, kinds={"polars", "parquet"}
        ),
        "vocabulary": dg.AssetOut(
            key=["reference", "vocabulary"], group_name=GROUP, kinds={"polars", "parquet"}
        ),
    },
    ins={name: dg.AssetIn(key=["reference", name]) for name in DATASETS},
)
def customer_profile(
    blacklist: pl.LazyFrame,
    devices: pl.LazyFrame,
    push_preferences: pl.LazyFrame,
    mau: pl.LazyFrame,
    products: pl.LazyFrame,
):
    """One row per customer with a bit per blacklist source, device, push stream and product,
    the latest-month activity flag and the product count: campaigns filter on this alone.
    ``vocabulary`` says which bit stands for which name."""
    datasets = dict(
        zip(DATASETS, (blacklist, devices, push_preferences, mau, products), strict=True)
    )
    vocabulary = vocabulary_frame(datasets)
    profile = build_profile(datasets, vocabulary)
    yield dg.Output(
        profile,
        output_name="customer_profile",
        metadata={
            "dagster/row_count": profile.height,
            "active_latest_month": int(profile["mau_latest"].sum()),
        },
    )
    yield dg.Output(
        vocabulary,
        output_name="vocabulary",
        metadata={
            "dagster/row_count": vocabulary.height,
            "values": dg.MetadataValue.json(
                {
                    d: sorted(vocabulary.filter(pl.col("dataset") == d)["value"])
                    for d in vocabulary["dataset"].unique(maintain_order=True)
                }
            ),
        },
    )
