"""`campaigns streaks run|assign|register|simulate` in-process against a real data directory:
user activity and streak state in the DuckDB warehouse, a Dagster instance in DAGSTER_HOME and
the journey config as a file of its own (CAMPAIGN_JOURNEY_CONFIG_PATH)."""

import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.cli import main
from campaign_pipelines.demo.user_activity import write_user_activity

USERS = 500
EXPERIMENT = "30x5_streak"
OPTION3 = DEFAULT_CONFIG.with_name("option3_bucket_switching.yaml")
NEW_CAMPAIGN = ["--name", "autumn_7x3_streak", "--id", "204", "--type", "streak",
                "--banner", "autumn_banner", "--subtitle", "Seven days", "--next", "NA"]


@pytest.fixture
def journey(data_dir, bare_home, tmp_path, monkeypatch) -> Path:
    """Streak state for USERS users in data_dir's warehouse; the journey config file a copy
    that registrations may rewrite."""
    write_user_activity(data_dir / "warehouse.duckdb", users=USERS)
    path = tmp_path / "journey_config.yaml"
    shutil.copy(DEFAULT_CONFIG, path)
    monkeypatch.setenv("CAMPAIGN_JOURNEY_CONFIG_PATH", str(path))
    return path


def _store(data_dir: Path) -> StreakStore:
    return StreakStore(DuckDBWarehouse(data_dir / "warehouse.duckdb"))


def _json_out(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_run_assigns_the_daily_batch_and_records_the_run(journey, data_dir, bare_home, capsys):
    capsys.readouterr()
    assert main(["streaks", "run"]) == 0
    body = _json_out(capsys)
    assert body["success"]
    assigned = body["assigned_per_campaign"]
    assert set(assigned) == {"upi_25x1_streak", "snp_flat_10_multilob_act_react",
                             "cred_mtu_single_lob_others_retention"}
    assert sum(assigned.values()) > 0
    assert body["blocked_total"] == sum(body["blocked_per_campaign"].values())
    assert _store(data_dir).read_audit(body["run_id"]).height == body["audit_rows"]
    with dg.DagsterInstance.from_config(str(bare_home)) as instance:
        run = instance.get_run_by_id(body["run_id"])
        assert run.job_name == "streaks_daily_job"
        assert run.status == dg.DagsterRunStatus.SUCCESS


def test_assign_moves_the_users_of_the_file(journey, data_dir, tmp_path, capsys):
    state = _store(data_dir).read_state()
    users = state.filter(pl.col("streak_type") != EXPERIMENT)["user_id"].head(2).to_list()
    moves = tmp_path / "moves.csv"
    moves.write_text("user_id,streak\n" + "".join(f"{u},{EXPERIMENT}\n" for u in users),
                     encoding="utf-8")
    capsys.readouterr()
    assert main(["streaks", "assign", str(moves)]) == 0
    body = _json_out(capsys)
    assert body["success"] and body["manual_moves"] == 2
    moved = _store(data_dir).read_state().filter(pl.col("user_id").is_in(users))
    assert moved["streak_type"].to_list() == [EXPERIMENT, EXPERIMENT]


def test_assign_of_unknown_users_exits_1_naming_them(journey, tmp_path, capsys):
    moves = tmp_path / "moves.csv"
    moves.write_text(f"user_id,streak\n{10**9},{EXPERIMENT}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["streaks", "assign", str(moves)]) == 1
    [error] = _json_out(capsys)["errors"]
    assert error.startswith("streaks__manual_assignments: moves.csv: user_id: 1 unknown users")
    assert "fix: use users present in campaign_ops.user_streak_state" in error


def test_assign_of_a_missing_file_exits_2(journey, tmp_path, capsys):
    capsys.readouterr()
    assert main(["streaks", "assign", str(tmp_path / "absent.csv")]) == 2
    body = _json_out(capsys)
    assert body["message"] == (f"{tmp_path / 'absent.csv'} does not exist: give a CSV file "
                               "with header user_id,streak")


def test_register_is_a_dry_run_until_confirmed_then_writes_the_file(journey, capsys):
    before = journey.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["streaks", "register", *NEW_CAMPAIGN]) == 0
    preview = _json_out(capsys)
    assert preview["dry_run"] and preview["target"] == f"file {journey}"
    assert preview["would_post"]["campaign"]["name"] == "autumn_7x3_streak"
    assert journey.read_text(encoding="utf-8") == before  # nothing written

    assert main(["streaks", "register", *NEW_CAMPAIGN, "--confirm"]) == 0
    posted = _json_out(capsys)
    assert posted["success"] and posted["answer"]["written"] == str(journey)
    written = yaml.safe_load(journey.read_text(encoding="utf-8"))
    assert written["version"] == posted["answer"]["version"] == yaml.safe_load(before)[
        "version"] + 1
    [campaign] = [c for c in written["campaigns"] if c["name"] == "autumn_7x3_streak"]
    assert (campaign["id"], campaign["kind"], campaign["next"]) == ("204", "experiment", "NA")
    assert any(r["config_key"] == "autumn_7x3_streak" for r in written["rules"])


def test_register_of_an_existing_name_exits_2_and_writes_nothing(journey, capsys):
    before = journey.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["streaks", "register", "--name", EXPERIMENT, "--id", "205", "--type", "streak",
                 "--banner", "b", "--subtitle", "s", "--confirm"]) == 2
    body = _json_out(capsys)
    assert not body["success"]
    [error] = body["errors"]
    assert (error["field"], error["problem"]) == ("name", f"campaign '{EXPERIMENT}' already exists")
    assert journey.read_text(encoding="utf-8") == before


def test_simulate_compares_a_proposed_config_with_the_current(journey, data_dir, capsys):
    state_before = _store(data_dir).read_state()
    capsys.readouterr()
    assert main(["streaks", "simulate", "--config", str(OPTION3)]) == 0
    summary = _json_out(capsys)
    current = yaml.safe_load(journey.read_text(encoding="utf-8"))["version"]
    assert summary["current_version"] == current
    assert summary["proposed_version"] == yaml.safe_load(OPTION3.read_text())["version"]
    assert summary["moved"]["proposed"] > summary["moved"]["current"]  # option 3 moves more
    assert summary["experiment_users_moved_by_batch"] == {"current": 0, "proposed": 0}
    assert _store(data_dir).read_state().equals(state_before)  # a simulation writes nothing


def test_simulate_refuses_a_config_without_the_batch_campaigns(journey, tmp_path, capsys):
    proposed = tmp_path / "empty.yaml"
    proposed.write_text("version: 2\ncampaigns: []\nrules: []\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["streaks", "simulate", "--config", str(proposed)]) == 2
    said = capsys.readouterr().out
    assert ("error: campaigns.upi_25x1_streak: the daily batch assigns users to "
            "'upi_25x1_streak', which this config does not have") in said
