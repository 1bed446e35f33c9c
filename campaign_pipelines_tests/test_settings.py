"""Settings: read in one object, only when asked (never at import), each bad value named."""

import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from campaign_pipelines.defs.resources import build_resources
from campaign_pipelines.defs.settings import SettingError, read_settings

# Imports every third-party module the package imports (they may read the environment when
# they load, which is theirs to do), then replaces os.environ with a recorder and imports the
# code location and every module of the package. Prints each variable read.
_IMPORT_WATCH = textwrap.dedent(
    """
    import ast, importlib, os, pathlib, pkgutil, sys, traceback
    import campaign_pipelines as package

    root = pathlib.Path(package.__file__).parent
    outside = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                outside.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                outside.add(node.module)
    for name in sorted(outside):
        if not name.startswith("campaign_pipelines"):
            try:
                importlib.import_module(name)
            except ImportError:
                pass

    reads = []
    ours = str(root)

    def record(key):
        # Ours: read by the package's own code, or through its settings object. Flags that
        # Dagster and pydantic read for themselves while our modules define things are not.
        stack = traceback.extract_stack()[:-2]
        direct = stack[-1].filename.startswith(ours)
        if direct or any(frame.name == "read_settings" for frame in stack):
            caller = next(f for f in stack if f.filename.startswith(ours))
            reads.append(f"{key} ({pathlib.Path(caller.filename).name}:{caller.lineno})")

    class Recorder(dict):
        def __getitem__(self, key):
            record(key)
            return super().__getitem__(key)

        def get(self, key, default=None):
            record(key)
            return super().get(key, default)

        def __contains__(self, key):
            record(key)
            return super().__contains__(key)

        def __iter__(self):
            record("<every variable>")
            return super().__iter__()

        def items(self):
            record("<every variable>")
            return super().items()

        def keys(self):
            record("<every variable>")
            return super().keys()

        def copy(self):
            record("<every variable>")
            return super().copy()

    os.environ = Recorder(os.environ)
    importlib.import_module("campaign_pipelines.definitions")
    for module in pkgutil.walk_packages([str(root)], prefix="campaign_pipelines."):
        importlib.import_module(module.name)
    print("READS:" + ", ".join(reads))
    """
)


def test_importing_the_code_location_and_every_module_reads_no_environment_variable():
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_WATCH], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    reads = done.stdout.strip().splitlines()[-1].removeprefix("READS:")
    assert reads == "", f"read at import: {reads}"


def test_defaults_when_nothing_is_set(monkeypatch, tmp_path):
    for name in ("CAMPAIGN_WAREHOUSE", "CAMPAIGN_BLACKLIST_MAX_AGE_S",
                 "CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "CAMPAIGN_JOURNEY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    settings = read_settings()
    assert settings.data_dir == tmp_path.resolve()
    assert (settings.warehouse, settings.blacklist_max_age_s) == ("duckdb", 3600)
    assert settings.duckdb_lock_timeout_s == 120
    assert settings.database == tmp_path.resolve() / "warehouse.duckdb"


def test_values_are_read_case_blind_and_an_empty_value_means_the_default(monkeypatch):
    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", " Oracle ")
    monkeypatch.setenv("CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "")
    settings = read_settings()
    assert settings.warehouse == "oracle"
    assert not settings.ops_state_available
    assert settings.duckdb_lock_timeout_s == 120


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CAMPAIGN_BLACKLIST_MAX_AGE_S", "1h", "whole number of seconds"),
        ("CAMPAIGN_BLACKLIST_MAX_AGE_S", "-5", "whole number of seconds"),
        ("CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "soon", "above 0"),
        ("CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "0", "above 0"),
        ("CAMPAIGN_WAREHOUSE", "mysql", "'duckdb' or 'oracle'"),
        ("CAMPAIGN_JOURNEY_CONFIG", "ftp", "'file' or 'http'"),
        ("CAMPAIGN_RESEND_BASE_URL", "api.resend.com", "http\\(s\\) URL"),
        ("CAMPAIGN_SMS_PROVIDER", "smsc", "'outbox' or 'twilio'"),
        ("CAMPAIGN_SMS_WINDOW", "9-21", "HH:MM-HH:MM"),
        ("CAMPAIGN_SMS_WINDOW_ZONE", "Almaty", "IANA time zone"),
        ("CAMPAIGN_SMS_MAX_SEGMENTS", "12", "from 1 to 10"),
    ],
)
def test_a_value_the_project_cannot_use_is_named_with_what_it_takes(
    monkeypatch, name, value, says
):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError, match=f"{name}='{value}': .*{says}"):
        read_settings()


def test_the_settings_reach_the_resources_and_their_adapters(monkeypatch, tmp_path):
    monkeypatch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", "0")
    monkeypatch.setenv("CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "7")
    resources = build_resources()
    warehouse = resources["warehouse"]
    assert warehouse.blacklist_max_age_s == 0
    adapter = warehouse.adapter()
    assert (adapter.path, adapter.lock_timeout_s) == (tmp_path.resolve() / "warehouse.duckdb", 7)
    assert resources["campaign_data"].root() == tmp_path.resolve()
    assert resources["io_manager"].base_dir == str(tmp_path.resolve() / "assets")


def test_oracle_credentials_stay_environment_references(monkeypatch):
    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", "oracle")
    monkeypatch.setenv("ORACLE_PASSWORD", "not-in-the-resource")
    warehouse = build_resources()["warehouse"]
    assert "not-in-the-resource" not in repr(warehouse)
    assert isinstance(warehouse.password, dg.EnvVar)
    assert warehouse.password == "ORACLE_PASSWORD"  # the variable's name, resolved by Dagster


def test_a_command_loads_the_definitions_once(monkeypatch, tmp_path):
    from campaign_pipelines import service

    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    location = service.open_location()
    job = service.loaded_job("campaign_job")
    assert location.defs is service.loaded_definitions(read_settings())
    assert job is location.defs.resolve_job_def("campaign_job")


def test_without_dagster_home_a_command_keeps_the_projects_instance_in_the_data_dir(
    monkeypatch, tmp_path
):
    """Pools, run monitoring and run retries hold for a plain `pip install` user too."""
    from campaign_pipelines import service

    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    location = service.open_location()
    home = tmp_path.resolve() / "dagster_home"
    assert (home / "dagster.yaml").read_bytes() == service.INSTANCE_SETTINGS.read_bytes()
    assert location.instance.root_directory == str(home)
    assert location.instance.run_retries_enabled
    assert location.instance.run_monitoring_enabled


def test_the_sms_resource_takes_the_provider_and_hours_the_settings_choose(monkeypatch, tmp_path):
    from campaign_pipelines.adapters.sms.outbox import SmsOutbox
    from campaign_pipelines.adapters.sms.twilio import TwilioProvider

    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAMPAIGN_SMS_WINDOW", "10:00-20:00")
    sms = build_resources()["sms"]
    assert isinstance(sms.provider(), SmsOutbox)
    assert sms.status_callback() is None  # the outbox sends no receipts
    hours = sms.quiet_hours()
    assert (str(hours.opens), str(hours.closes)) == ("10:00:00", "20:00:00")  # both ends
    monkeypatch.setenv("CAMPAIGN_SMS_PROVIDER", "Twilio")
    monkeypatch.setenv("CAMPAIGN_PUBLIC_URL", "https://hooks.bank.kz/")
    twilio = build_resources()["sms"]
    assert twilio.kind == "twilio" and isinstance(twilio.provider(), TwilioProvider)
    assert twilio.status_callback() == "https://hooks.bank.kz/webhooks/sms/status"
