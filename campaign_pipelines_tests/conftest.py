from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines_tests.bank import write_bank
from campaign_pipelines_tests.volumes import small_volume  # noqa: F401 - a fixture


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with the known bank in a real DuckDB file."""
    directory = tmp_path / "data"
    directory.mkdir()
    write_bank(directory / "warehouse.duckdb")
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(directory))
    monkeypatch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
    return directory


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real instance in tmp_path. DAGSTER_HOME goes through monkeypatch, not
    instance_for_test, so that every test's changes to it are undone in one order."""
    home = tmp_path / "instance_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.instance_for_test(set_dagster_home=False, temp_dir=str(home)) as test_instance:
        yield test_instance


@pytest.fixture
def location(data_dir: Path, instance: dg.DagsterInstance):
    """The real code location over the test data directory, reference data refreshed."""
    from campaign_pipelines.definitions import defs
    from campaign_pipelines.service import Location, run_job

    loaded = Location(defs=defs(), instance=instance)
    loaded.warehouse.deployment().init_schema()
    assert run_job(loaded, "reference_refresh_job").success
    return loaded
