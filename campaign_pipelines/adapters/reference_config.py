"""The reference-source config file: which SQL extracts each reference dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.reference import SQL_DATASETS
from campaign_pipelines.core.request_text import load_request_text

# The embedded warehouse's client events (demo-data fills them); a config names its own.
DEFAULT_EVENTS_SQL = "SELECT iin, event, event_date FROM sources.client_events"
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "reference_sources"


@dataclass(frozen=True)
class ReferenceConfig:
    path: Path
    blacklists: dict[str, str]  # source name -> SQL returning iin
    datasets: dict[str, str]  # dataset -> SQL returning iin and its value column
    # SQL returning iin and phone: the SMS campaigns' recipients of a deployed campaign's target
    # group (None: SMS campaigns can take uploaded lists with a phone column only).
    phones: str | None = None
    # SQL returning iin, event, event_date: what clients did, for campaign outcomes (metrics).
    events: str = DEFAULT_EVENTS_SQL

    @property
    def blacklist_sources(self) -> list[str]:
        return list(self.blacklists)


def load_reference_config(path: Path) -> ReferenceConfig:
    """The config at ``path``, read as the requests are (YAML 1.2, no duplicate keys, no
    aliases); ValueError naming the file for anything it cannot use."""
    try:
        body = load_request_text(path.read_text(encoding="utf-8"), yaml_syntax=True)
    except FileNotFoundError:
        raise ValueError(
            f"reference config {path} does not exist: point it at a YAML file"
        ) from None
    except (ProblemsError, UnicodeDecodeError) as error:
        raise ValueError(f"reference config {path}: {error}") from None
    if body is not None and not isinstance(body, dict):
        raise ValueError(f"reference config {path} must be a mapping (blacklists:, datasets:)")
    blacklists = (body or {}).get("blacklists") or {}
    datasets = (body or {}).get("datasets") or {}
    missing = [name for name in SQL_DATASETS if name not in datasets]
    if not blacklists or missing:
        raise ValueError(
            f"reference config {path} needs 'blacklists' (name: SQL) and datasets "
            f"{list(SQL_DATASETS)}; missing: {missing or ['blacklists']}"
        )
    phones = (body or {}).get("phones")
    if phones is not None and not (isinstance(phones, str) and phones.strip()):
        raise ValueError(f"reference config {path}: 'phones' must be one SQL returning iin, "
                         "phone (or be left out)")
    events = (body or {}).get("events", DEFAULT_EVENTS_SQL)
    if not (isinstance(events, str) and events.strip()):
        raise ValueError(f"reference config {path}: 'events' must be one SQL returning iin, "
                         "event, event_date (or be left out for sources.client_events)")
    return ReferenceConfig(path, dict(blacklists), dict(datasets), phones, events)


def default_config_path(warehouse_kind: str) -> Path:
    return DEFAULT_CONFIG_DIR / f"{warehouse_kind}.yaml"
