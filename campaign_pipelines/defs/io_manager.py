"""Parquet between assets: frames as Parquet, request models as JSON, one file per partition.

Each file is written whole or not at all (a reader sees the old file or the new one, never
half; two runs writing one partition never write into each other's temp file): locally with
``atomic_write.write_atomic_with``, mode 0o600 (only the account that runs Dagster reads
them); under an object-store ``base_dir`` (``CAMPAIGN_DATA_URL``) as one PUT, through
adapters/storage.py.

Inputs annotated ``pl.LazyFrame`` are scanned, not read, so a 10M-row reference dataset costs
only what the filter actually touches. From an object store they are read whole first (a
lazy frame over the downloaded bytes): the same result, without the local file's savings.
"""

import io
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import BaseModel

from campaign_pipelines.adapters.atomic_write import PRIVATE_MODE
from campaign_pipelines.adapters.storage import is_local, storage_for, storage_path


class ParquetIOManager(dg.ConfigurableIOManager):
    """``base_dir``: where the files live (defs/resources.py: ``$CAMPAIGN_DATA_URL/assets``),
    a folder or an object-store URL."""

    base_dir: str

    def _path(self, context: dg.OutputContext | dg.InputContext, suffix: str) -> Path:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return self.path_of(context.asset_key, partition, suffix)

    def path_of(self, key: dg.AssetKey, partition: str | None = None,
                suffix: str = ".parquet") -> Path:
        """Where ``key`` (its ``partition``) is stored, whether or not it is there yet."""
        name = partition if partition is not None else "__all__"
        return storage_path(self.base_dir).joinpath(*key.path) / f"{name}{suffix}"

    def stored_frame(self, key: dg.AssetKey) -> pl.DataFrame | None:
        """An unpartitioned asset's stored frame, read outside a run (a sensor, a command);
        None when it was never stored. No Dagster context is built: ``build_input_context``
        without an instance makes a temporary instance on every call."""
        path = self.path_of(key)
        return _read_frame(path) if path.exists() else None

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if isinstance(obj, pl.LazyFrame):
            obj = obj.collect()
        if isinstance(obj, pl.DataFrame):
            frame = obj
            path = self._path(context, ".parquet")
            _write(path, lambda tmp: frame.write_parquet(tmp, compression="lz4"))
        elif isinstance(obj, BaseModel):
            path = self._path(context, ".json")
            text = obj.model_dump_json(indent=2)
            _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        else:
            raise TypeError(f"{context.asset_key.to_user_string()}: cannot store {type(obj)}")

    def load_input(self, context: dg.InputContext) -> object:
        wanted = context.dagster_type.typing_type
        if isinstance(wanted, type) and issubclass(wanted, BaseModel):
            path = self._existing(context, ".json")
            return wanted.model_validate_json(path.read_text(encoding="utf-8"))
        path = self._existing(context, ".parquet")
        if wanted is pl.LazyFrame:
            return pl.scan_parquet(path) if is_local(path) else _read_frame(path).lazy()
        return _read_frame(path)

    def _existing(self, context: dg.InputContext, suffix: str) -> Path:
        path = self._path(context, suffix)
        if not path.exists():
            key = context.asset_key.to_user_string()
            raise dg.Failure(
                description=f"{key} has not been materialized yet ({path} is missing): "
                f"materialize {key} first"
                + (" (reference_refresh_job)" if key.startswith("reference/") else ""),
            )
        return path


def _read_frame(path: Path) -> pl.DataFrame:
    """A local file read, or a stored object's bytes."""
    return pl.read_parquet(path if is_local(path) else io.BytesIO(path.read_bytes()))


def _write(path: Path, write) -> None:
    storage = storage_for(path)
    storage.make_folder(path.parent)
    storage.write_with(path, write, PRIVATE_MODE)
