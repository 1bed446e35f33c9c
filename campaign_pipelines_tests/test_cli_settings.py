"""Every `campaigns` command under each setting of defs/resources.py: the CLI resolves its
resources as a run does (EnvVar read when used), so a missing variable is named, an unreachable
Oracle fails with the driver's own message, and the journey config works over HTTP."""

import subprocess
import sys

import pytest
import yaml

from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG, load_config_file
from campaign_pipelines.cli import main
from campaign_pipelines.demo.user_activity import write_user_activity
from campaign_pipelines_tests.ports import free_port
from campaign_pipelines_tests.streaks.test_journey_config_service import TOKEN, ConfigService

PASSWORD = "Pw-never-printed-42"
ORACLE_COMMANDS = [
    ["list"],
    ["show", "C000000001"],
    ["delete", "C000000001"],
    ["next-code", "rb1"],
    ["db", "init"],
]
ORACLE_VARIABLES = ("ORACLE_DSN", "ORACLE_USER", "ORACLE_PASSWORD")


@pytest.fixture
def home(bare_home):
    return bare_home


@pytest.fixture
def oracle(home, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", "oracle")
    monkeypatch.setenv("ORACLE_DSN", f"127.0.0.1:{free_port()}/FREEPDB1")
    monkeypatch.setenv("ORACLE_USER", "campaigns")
    monkeypatch.setenv("ORACLE_PASSWORD", PASSWORD)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("argv", ORACLE_COMMANDS, ids=" ".join)
def test_oracle_unreachable_fails_with_the_connection_error(oracle, argv, capsys):
    code, output = _run(argv, capsys)
    assert code == 1, output
    assert "DPY-6005" in output and "cannot connect" in output
    assert "Traceback" not in output and "EnvVar" not in output
    assert PASSWORD not in output


# Every command and every variable once (the variables resolve in one place, the commands
# each reach it their own way): five cases, not the fifteen of the whole product.
@pytest.mark.parametrize(("argv", "missing"), [
    (argv, ORACLE_VARIABLES[i % len(ORACLE_VARIABLES)]) for i, argv in enumerate(ORACLE_COMMANDS)
], ids=lambda value: " ".join(value) if isinstance(value, list) else value)
def test_oracle_setting_missing_names_the_variable(oracle, monkeypatch, argv, missing, capsys):
    monkeypatch.delenv(missing)
    code, output = _run(argv, capsys)
    assert code == 2, output
    assert f"{missing} is not set" in output
    assert "Traceback" not in output and "Stack Trace" not in output
    assert PASSWORD not in output


@pytest.fixture
def config_service(home, monkeypatch):
    with ConfigService(load_config_file(DEFAULT_CONFIG).to_document()).running() as server:
        monkeypatch.setenv("CAMPAIGN_JOURNEY_CONFIG", "http")
        monkeypatch.setenv("JOURNEY_CONFIG_URL", server.url)
        monkeypatch.setenv("JOURNEY_CONFIG_TOKEN", TOKEN)
        yield server


REGISTER = ["streaks", "register", "--name", "fresh_streak", "--id", "900", "--type", "streak",
            "--banner", "Fresh", "--subtitle", "Seven days", "--next", "NA"]


def test_streaks_register_over_http_dry_run_then_confirm(config_service, capsys):
    code, output = _run(REGISTER, capsys)
    assert code == 0, output
    assert '"dry_run": true' in output and config_service.url in output
    assert config_service.posts == []
    code, output = _run([*REGISTER, "--confirm"], capsys)
    assert code == 0, output
    assert '"success": true' in output
    [(body, _)] = config_service.posts
    assert body["campaign"]["name"] == "fresh_streak"
    assert TOKEN not in output


def test_streaks_simulate_over_http(config_service, data_dir, tmp_path, capsys):
    write_user_activity(data_dir / "warehouse.duckdb", users=200, seed=7)
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(yaml.safe_dump(load_config_file(DEFAULT_CONFIG).to_document()),
                        encoding="utf-8")
    code, output = _run(["streaks", "simulate", "--config", str(proposed)], capsys)
    assert code == 0, output
    assert config_service.gets >= 1
    assert TOKEN not in output


@pytest.mark.parametrize("missing", ["JOURNEY_CONFIG_URL", "JOURNEY_CONFIG_TOKEN"])
@pytest.mark.parametrize("argv", [REGISTER, ["streaks", "simulate", "--config", "new.yaml"]],
                         ids=["register", "simulate"])
def test_journey_setting_missing_names_the_variable(config_service, monkeypatch, missing, argv,
                                                    capsys):
    monkeypatch.delenv(missing)
    code, output = _run(argv, capsys)
    assert code == 2, output
    assert f"{missing} is not set" in output
    assert "Traceback" not in output and TOKEN not in output


@pytest.mark.parametrize("variable, value", [
    ("CAMPAIGN_BLACKLIST_MAX_AGE_S", "1h"),
    ("CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "soon"),
    ("CAMPAIGN_WAREHOUSE", "postgres"),
])
def test_a_setting_with_an_unusable_value_is_named_in_one_line(home, monkeypatch, capsys,
                                                               variable, value):
    monkeypatch.setenv(variable, value)
    code, said = _run(["list"], capsys)
    assert code == 2
    assert f"{variable}={value!r}" in said and "Traceback" not in said
    assert len(said.strip().splitlines()) == 1


def test_a_warehouse_locked_by_another_process_is_one_line_naming_the_holder(
    home, data_dir, monkeypatch, capsys
):
    from campaign_pipelines_tests.defs.test_deploy_lock import _HOLD

    monkeypatch.setenv("CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S", "1")
    main(["db", "init"])
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(data_dir / "warehouse.duckdb")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        capsys.readouterr()
        code, said = _run(["list"], capsys)
    finally:
        child.kill()
        child.wait()
    assert code == 1 and "Traceback" not in said
    assert f"(PID {child.pid})" in said and "CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S" in said
