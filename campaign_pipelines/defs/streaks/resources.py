"""The journey config resource, and which store the streaks domain uses.

``CAMPAIGN_JOURNEY_CONFIG`` picks the config source: ``file`` (default: the versioned YAML at
``CAMPAIGN_JOURNEY_CONFIG_PATH``, else campaign_pipelines/config/journeys/journey_config.yaml)
or ``http`` (the config service at ``JOURNEY_CONFIG_URL`` with ``JOURNEY_CONFIG_TOKEN``, both
through ``dg.EnvVar``). ``CAMPAIGN_JOURNEY_BACKEND`` names the backend the config is meant for
(``legacy``, the default, or ``campaign_pipelines``): lint warns about operators it lacks.
"""

import os
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.journey_config import (
    DEFAULT_CONFIG,
    FileJourneyConfig,
    HttpJourneyConfig,
)
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.streaks.chains import Finding
from campaign_pipelines.core.streaks.config import JourneyConfig
from campaign_pipelines.core.streaks.lint import require_valid
from campaign_pipelines.defs.resources import WarehouseResource


class JourneyConfigResource(dg.ConfigurableResource):
    """Where the journey config is read from and registrations are written to."""

    source: str = "file"  # file | http
    path: str = str(DEFAULT_CONFIG)
    url: str = ""
    token: str = ""
    timeout_s: float = 10.0
    target_backend: str = "legacy"

    def store(self) -> FileJourneyConfig | HttpJourneyConfig:
        if self.source == "file":
            return FileJourneyConfig(Path(self.path))
        if self.source == "http":
            if not self.url:
                raise ValueError("journey_config source is http but JOURNEY_CONFIG_URL is empty")
            return HttpJourneyConfig(url=self.url, token=self.token, timeout_s=self.timeout_s)
        raise ValueError(f"journey_config source {self.source!r}: use 'file' or 'http'")

    def load(self) -> tuple[JourneyConfig, list[Finding]]:
        """The config and its lint warnings; ConfigError if lint finds an error."""
        store = self.store()
        config = store.load()
        return config, require_valid(config, self.target_backend, store.describe())


def streak_store(warehouse: WarehouseResource) -> StreakStore:
    adapter = warehouse.adapter()
    if not isinstance(adapter, DuckDBWarehouse):
        raise dg.Failure(description="streak state lives in the DuckDB warehouse in this version;"
                         " run with CAMPAIGN_WAREHOUSE=duckdb", allow_retries=False)
    return StreakStore(adapter)


def journey_config_resource() -> JourneyConfigResource:
    source = os.environ.get("CAMPAIGN_JOURNEY_CONFIG", "file").lower()
    backend = os.environ.get("CAMPAIGN_JOURNEY_BACKEND", "legacy")
    if source == "http":
        return JourneyConfigResource(source="http", url=dg.EnvVar("JOURNEY_CONFIG_URL"),
                                     token=dg.EnvVar("JOURNEY_CONFIG_TOKEN"),
                                     target_backend=backend)
    if source == "file":
        path = os.environ.get("CAMPAIGN_JOURNEY_CONFIG_PATH") or str(DEFAULT_CONFIG)
        return JourneyConfigResource(source="file", path=path, target_backend=backend)
    raise ValueError(f"CAMPAIGN_JOURNEY_CONFIG={source!r}: use 'file' or 'http'")


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"journey_config": journey_config_resource()})
