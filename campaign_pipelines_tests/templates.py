"""Reference state built once per pytest run (one build for all xdist workers: ``shared``)
and copied into each test's own tmp_path.

Building it (the known bank, the deployment tables, a whole reference_refresh_job) takes
seconds; copying the files takes milliseconds. Each test gets its own copy, so no test sees
another's writes. A template is only ever written while it is built: every connection to it
(DuckDB, the instance's SQLite files) is closed before the first copy is taken.

Layout of a template directory, the same as the test's tmp_path it is copied into:
``data/`` (warehouse.duckdb after init_schema, assets/reference/*.parquet) and the Dagster
home (``instance_home/`` for the ``location`` fixture, ``dagster_home/`` with the project's
dagster.yaml for the tests that drive ``campaigns``), whose storage holds the refresh run and
its materializations: the blacklist's age and ``ensure_reference_data`` read those records.
The snapshot ages with the session: tests that want it younger than the default maximum age
(3600 s) hold as long as a session lasts under an hour.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

# Dagster, the project's service and the bank's DuckDB and polars are imported where they are
# used: conftest.py and dagster_ui.py import this module, and so does pytest-xdist's controller,
# which starts the workers only once it has (1.5 s of imports it never uses).

ROOT = Path(__file__).parent.parent
DATA = "data"
INSTANCE_HOME = "instance_home"  # the `instance` fixture's home
CLI_HOME = "dagster_home"  # a DAGSTER_HOME with the project's dagster.yaml


@functools.cache
def project_storage() -> dict:
    """The project's run and event storage (campaign_pipelines/instance_storage.py), for the
    test instances that otherwise keep Dagster's defaults."""
    from campaign_pipelines.service import INSTANCE_SETTINGS

    return {key: value for key, value in yaml.safe_load(INSTANCE_SETTINGS.read_text()).items()
            if key in ("run_storage", "event_log_storage")}


def project_instance(home: Path):
    """A test instance in ``home`` (DAGSTER_HOME, set by the caller) on the project's storage."""
    import dagster as dg

    return dg.instance_for_test(set_dagster_home=False, temp_dir=str(home),
                                overrides=project_storage())


def build_bank(directory: Path) -> Path:
    """The known bank in ``directory/warehouse.duckdb``."""
    from campaign_pipelines_tests.bank import write_bank

    directory.mkdir(parents=True, exist_ok=True)
    write_bank(directory / "warehouse.duckdb")
    return directory / "warehouse.duckdb"


def _data_dir(template: Path, bank: Path) -> Path:
    data = template / DATA
    data.mkdir(parents=True)
    shutil.copy2(bank, data / "warehouse.duckdb")
    return data


def build_empty_homes(template: Path) -> Path:
    """Both kinds of Dagster home with their storage created and nothing in it: opening an
    instance over a new home creates its SQLite files and runs their migrations (0.2 s of CPU),
    copying made ones takes milliseconds."""
    import dagster as dg

    (template / INSTANCE_HOME).mkdir(parents=True)
    with project_instance(template / INSTANCE_HOME):
        pass
    cli_home = template / CLI_HOME
    cli_home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", cli_home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(cli_home)):
        pass
    return template


def build_location_template(template: Path, bank: Path) -> Path:
    """What the ``location`` fixture used to build per test, under ``template``."""
    from campaign_pipelines.definitions import defs
    from campaign_pipelines.service import Location, missing_reference_data, run_job

    data, home = _data_dir(template, bank), template / INSTANCE_HOME
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMPAIGN_DATA_DIR", str(data))
        patch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
        patch.setenv("DAGSTER_HOME", str(home))
        with project_instance(home) as instance:
            loaded = Location(defs=defs(), instance=instance)
            loaded.warehouse.deployment().init_schema()
            # A template built before this one in the process (cli_template) left its job, with
            # its data directory, in Dagster's cache: the refresh would write there.
            forget_rebuilt_jobs()
            assert run_job(loaded, "reference_refresh_job").success
            assert missing_reference_data(loaded) == []  # once here, not in every copy
    return template


def build_cli_template(template: Path, bank: Path) -> Path:
    """What `campaigns db init` and `campaigns reference refresh` leave in a DAGSTER_HOME
    holding the project's dagster.yaml, under ``template``."""
    from campaign_pipelines.cli import main

    data, home = _data_dir(template, bank), template / CLI_HOME
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMPAIGN_DATA_DIR", str(data))
        patch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
        patch.setenv("DAGSTER_HOME", str(home))
        forget_rebuilt_jobs()  # likewise, a job cached by the location template's build
        assert main(["db", "init"]) == 0
        assert main(["reference", "refresh"]) == 0
    return template


def shared(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(directory)`` run once for the whole run: by the first xdist worker to ask, under
    a lock in the run's common temporary directory, the others waiting and then reading what it
    wrote (templates are never written once built). Without xdist, in this process's own
    temporary directory."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # a path not yet made, as under xdist
        return build(factory.mktemp(name) / "template")
    common = factory.getbasetemp().parent  # popen-gw<N>'s parent: this run's, every worker's
    directory, built = common / f"template-{name}", common / f"template-{name}.built"
    with open(common / f"template-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build that failed half-way
            built.write_text(str(build(directory)), encoding="utf-8")
    return Path(built.read_text(encoding="utf-8"))


def forget_rebuilt_jobs() -> None:
    """Makes the next run rebuild its job with this test's environment.

    Dagster keeps the last job a run rebuilt (``ReconstructableJob.get_definition``, an
    ``lru_cache`` of one entry for the whole process), and the resources read settings such as
    CAMPAIGN_BLACKLIST_MAX_AGE_S when the job is built. A reference refresh in every test's
    fixture used to push the previous test's job out; a copied template runs nothing, so the
    cache is emptied here instead, or one test's settings would reach the next.
    """
    from dagster._core.definitions.reconstruct import ReconstructableJob

    from campaign_pipelines import service

    ReconstructableJob.get_definition.cache_clear()
    ReconstructableJob.get_repository_definition.cache_clear()
    # The definitions loaded per settings value (service.loaded_definitions): each test's data
    # directory is another value, so without this every test's definitions would stay loaded.
    service._definitions.cache_clear()


def campaigns_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``campaigns ARGS`` run in this process under this test's environment, its jobs rebuilt
    under it (``forget_rebuilt_jobs``): exit code, stdout and stderr. For a command that only
    has to find what another process left, where a child would spend seconds starting."""
    from campaign_pipelines.cli import main

    forget_rebuilt_jobs()
    capsys.readouterr()
    code = main(list(args))
    said = capsys.readouterr()
    return code, said.out, said.err


def copy_into(source: Path, target: Path) -> None:
    """``source`` copied over ``target`` (which may exist already, as data_dir does)."""
    shutil.copytree(source, target, dirs_exist_ok=True, copy_function=shutil.copy2)


def use_cli_template(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies cli_template into tmp_path (over data_dir's bank) and points DAGSTER_HOME at the
    copied home, as `campaigns db init` + `campaigns reference refresh` would leave them."""
    copy_into(template / DATA, tmp_path / DATA)
    home = tmp_path / CLI_HOME
    copy_into(template / CLI_HOME, home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    forget_rebuilt_jobs()
    return home
