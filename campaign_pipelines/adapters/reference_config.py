"""The reference-source config file: which SQL extracts each reference dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from campaign_pipelines.core.reference import SQL_DATASETS

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "reference_sources"


@dataclass(frozen=True)
class ReferenceConfig:
    path: Path
    blacklists: dict[str, str]  # source name -> SQL returning iin
    datasets: dict[str, str]  # dataset -> SQL returning iin and its value column

    @property
    def blacklist_sources(self) -> list[str]:
        return list(self.blacklists)


def load_reference_config(path: Path) -> ReferenceConfig:
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"reference config {path} does not exist: point it at a YAML file"
        ) from None
    blacklists = (body or {}).get("blacklists") or {}
    datasets = (body or {}).get("datasets") or {}
    missing = [name for name in SQL_DATASETS if name not in datasets]
    if not blacklists or missing:
        raise ValueError(
            f"reference config {path} needs 'blacklists' (name: SQL) and datasets "
            f"{list(SQL_DATASETS)}; missing: {missing or ['blacklists']}"
        )
    return ReferenceConfig(path, dict(blacklists), dict(datasets))


def default_config_path(warehouse_kind: str) -> Path:
    return DEFAULT_CONFIG_DIR / f"{warehouse_kind}.yaml"
