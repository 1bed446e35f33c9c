from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from campaign_pipelines_tests import templates  # light: it imports Dagster where it is used
from campaign_pipelines_tests.volumes import small_volume  # noqa: F401 - a fixture

if TYPE_CHECKING:  # pytest-xdist's controller loads this file too: it needs none of Dagster
    import dagster as dg

# The session's one `dg dev` (shared_ui, ui) for the tests marked xdist_group("dagster_ui").
pytest_plugins = ["campaign_pipelines_tests.dagster_ui"]

# Python's default, restored where the host turned it off (PYTHONDONTWRITEBYTECODE=1): without
# it each xdist worker rewrote the asserts of every test module at collection (3.3 of its 9 s
# of collection CPU) and every child a test starts (`campaigns`, `dg dev`, code servers, run
# workers) compiled the project's modules again. Set here, before the workers are started and
# the test modules imported; the caches are __pycache__ folders, ignored by git.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


CORE_TESTS = Path(__file__).parent / "core"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long_pole(seconds=...)`` (real processes for many seconds) go first,
    longest first: the workers (pyproject.toml: ``-n``) take them at the start, side by side,
    and the short tests fill in around them instead of one long test ending the run alone.
    Then the tests of an ``xdist_group`` (a module's shared server: one worker runs the whole
    group, ten seconds or more, which as the run's last piece of work ended it alone). The
    tests of pure logic (``core/``, milliseconds each) go last, so that the workers' last tests
    end together instead of one worker finishing a run of Dagster jobs while the others idle."""

    def order(item: pytest.Item) -> tuple[float, bool, bool]:
        mark = item.get_closest_marker("long_pole")
        return (-(mark.kwargs["seconds"] if mark else 0),
                item.get_closest_marker("xdist_group") is None,
                item.path.is_relative_to(CORE_TESTS))

    items.sort(key=order)  # stable: the rest keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """The test process's collector of reference cycles, set for a process that runs Dagster
    jobs one after another: what the imports and the collection made is frozen (never scanned
    again), and the youngest generation is collected after 50,000 allocations instead of 700.
    Dagster's runs allocate millions of short-lived objects, and the default collector scanned
    them again and again: 7-9% of the CPU of the tests that run jobs in this process. Cycles are
    still collected, later; the children the tests start (`campaigns`, `dg dev`) keep Python's
    defaults, as in production."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@pytest.fixture(autouse=True, scope="session")
def _migration_scripts_parsed_once():
    """Every Dagster instance a test opens (and the ephemeral ones Dagster makes for
    ``build_input_context`` and friends, and each run's event-log shard) has alembic read its
    migration scripts from site-packages again, executing each one: about a tenth of the CPU of
    the tests that run jobs in this process. The scripts cannot change during the session, so
    each script directory is read once; the stamps and revision checks still run against every
    database. (`campaigns` processes read them as the product does.)"""
    from alembic.script import ScriptDirectory

    read = ScriptDirectory.from_config
    parsed: dict[tuple, ScriptDirectory] = {}

    def from_config(config):
        key = (config.config_file_name, config.get_alembic_option("script_location"))
        if key not in parsed:
            parsed[key] = read(config)
        return parsed[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ScriptDirectory, "from_config", from_config)
        yield


@pytest.fixture(autouse=True, scope="session")
def _component_library_listed_once():
    """Loading the definitions (``load_from_defs_folder``) also lists the component types of
    every installed Dagster plugin for the UI: half of each load's CPU, and a test process loads
    them for nearly every test (each test's settings are others). The installed plugins cannot
    change during the session, so the list is made once; the definitions themselves are still
    built from the defs folder every time."""
    import dagster as dg
    from dagster.components.core import load_defs

    list_library = load_defs.get_library_json_enriched_defs
    listed: list[dg.Definitions] = []

    def enriched(tree):
        if not listed:
            listed.append(list_library(None))
        return dg.Definitions(metadata=listed[0].metadata, component_tree=tree)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(load_defs, "get_library_json_enriched_defs", enriched)
        yield


@pytest.fixture(autouse=True)
def _no_shared_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the repository's data/ (the default CAMPAIGN_DATA_DIR, and what
    `make test` exports with DAGSTER_HOME): tests run side by side in workers, so each gets a
    data directory of its own, not yet created, and no DAGSTER_HOME (a command then keeps its
    instance in the data directory); data_dir, instance and bare_home replace them. Set first,
    then deleted, so that a DAGSTER_HOME a command sets in this process is undone after it.

    No job rebuilt for an earlier test is reused: Dagster keeps the last one a run rebuilt,
    with the resources of the settings it was built under (templates.forget_rebuilt_jobs), so
    a command run in this process would otherwise write into the earlier test's folders."""
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path / "unset_data_dir"))
    monkeypatch.setenv("DAGSTER_HOME", "")
    monkeypatch.delenv("DAGSTER_HOME")
    if "campaign_pipelines.service" in sys.modules:  # nothing was rebuilt before it loads
        templates.forget_rebuilt_jobs()


@pytest.fixture(scope="session")
def bank_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known bank written once for the run; each data_dir gets a copy."""
    return templates.shared(tmp_path_factory, "bank", templates.build_bank)


@pytest.fixture(scope="session")
def empty_homes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dagster homes whose storage exists, empty (templates.py); `instance` and `bare_home`
    copy theirs."""
    return templates.shared(tmp_path_factory, "empty_homes", templates.build_empty_homes)


@pytest.fixture(scope="session")
def location_template(tmp_path_factory: pytest.TempPathFactory, bank_template: Path) -> Path:
    """Tables created and reference_refresh_job run once (templates.py); `location` copies it."""
    return templates.shared(tmp_path_factory, "location",
                            lambda d: templates.build_location_template(d, bank_template))


@pytest.fixture(scope="session")
def cli_template(tmp_path_factory: pytest.TempPathFactory, bank_template: Path) -> Path:
    """`campaigns db init` and `campaigns reference refresh` run once in a DAGSTER_HOME with
    the project's dagster.yaml; the fixtures of the `campaigns` tests copy it."""
    return templates.shared(tmp_path_factory, "cli",
                            lambda d: templates.build_cli_template(d, bank_template))


def _wants_location(request: pytest.FixtureRequest) -> bool:
    # `location` needs data_dir and instance already holding the refreshed state: the instance
    # must open over the copied storage, never have its files replaced while it is open.
    return "location" in request.fixturenames


def _copied_for_location(request: pytest.FixtureRequest, part: str, target: Path) -> bool:
    """For a test that uses `location`, ``target`` becomes a copy of the template's ``part``."""
    if not _wants_location(request):
        return False
    templates.copy_into(request.getfixturevalue("location_template") / part, target)
    return True


@pytest.fixture
def data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """A data directory with the known bank in a real DuckDB file (for `location`, also the
    deployment tables and the reference datasets)."""
    directory = tmp_path / templates.DATA
    if not _copied_for_location(request, templates.DATA, directory):
        directory.mkdir()
        shutil.copy2(request.getfixturevalue("bank_template"), directory / "warehouse.duckdb")
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(directory))
    monkeypatch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
    return directory


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """A real instance in tmp_path (for `location`, over a copy of the storage in which
    reference_refresh_job ran). DAGSTER_HOME goes through monkeypatch, not instance_for_test, so
    that every test's changes to it are undone in one order."""
    home = tmp_path / templates.INSTANCE_HOME
    if not _copied_for_location(request, templates.INSTANCE_HOME, home):
        templates.copy_into(request.getfixturevalue("empty_homes") / templates.INSTANCE_HOME,
                            home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with templates.project_instance(home) as test_instance:
        yield test_instance


@pytest.fixture
def location(data_dir: Path, instance: dg.DagsterInstance):
    """The real code location over the test data directory, reference data refreshed: a copy of
    location_template, whose materialization records the instance holds."""
    from campaign_pipelines.defs.settings import read_settings
    from campaign_pipelines.service import REFERENCE_INPUTS, Location, loaded_definitions

    templates.forget_rebuilt_jobs()
    # As open_location does: the definitions the test's runs rebuild their jobs from, loaded
    # once (not once here and again by the first run).
    loaded = Location(defs=loaded_definitions(read_settings()), instance=instance)
    # The template's build checked the files through the IO manager (missing_reference_data);
    # the copy holds its materializations, or runs would quietly build the reference again.
    assert all(instance.get_latest_materialization_event(key) for key in REFERENCE_INPUTS)
    return loaded


@pytest.fixture
def bare_home(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              empty_homes: Path) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml and nothing run in it yet."""
    home = tmp_path / templates.CLI_HOME
    templates.copy_into(empty_homes / templates.CLI_HOME, home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
