"""The metrics worlds (ledgers.py) written once per pytest run and copied into each test's
tmp_path (templates.shared, as the bank and the location are): building one is a few hundred
row-by-row inserts, a fraction of a second of CPU per test; copying it takes milliseconds."""

from pathlib import Path

import pytest

from campaign_pipelines.adapters.admission import RequestStore
from campaign_pipelines_tests import templates
from campaign_pipelines_tests.metrics.ledgers import (
    build_ledgers,
    deploy_campaign,
    iins,
    outcome_world,
    request,
    warehouse,
)


def _ledgers(directory: Path) -> Path:
    directory.mkdir(parents=True)
    build_ledgers(warehouse(directory))
    return directory


def _outcomes(directory: Path) -> Path:
    directory.mkdir(parents=True)
    outcome_world(warehouse(directory), RequestStore(directory / "requests"))
    return directory


def _everything(directory: Path) -> Path:
    """The ledgers, the outcome world and a campaign whose target action is legacy text."""
    _ledgers(directory)
    store, requests = warehouse(directory), RequestStore(directory / "requests")
    outcome_world(store, requests)
    deploy_campaign(store, requests, "legacy_text", "C000000103",
                    request(0.2, target_action="Оформить кредит"), iins(40_000, 40),
                    iins(50_000, 10))
    return directory


@pytest.fixture(scope="session")
def ledgers_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding build_ledgers' warehouse."""
    return templates.shared(tmp_path_factory, "metrics-ledgers", _ledgers)


@pytest.fixture(scope="session")
def outcomes_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding outcome_world's warehouse and requests."""
    return templates.shared(tmp_path_factory, "metrics-outcomes", _outcomes)


@pytest.fixture(scope="session")
def metrics_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding all of it (test_cli.py's)."""
    return templates.shared(tmp_path_factory, "metrics-everything", _everything)
