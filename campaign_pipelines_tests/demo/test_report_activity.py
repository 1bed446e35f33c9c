"""What `make demo` runs besides `campaigns`: the activity feed's report of sources/user_activity
and the sample file of manual streak moves (Makefile, target demo)."""

from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG, load_config_file
from campaign_pipelines.core.streaks.manual import check_streaks, check_users, parse_assignments
from campaign_pipelines.defs.streaks.assets import USER_ACTIVITY
from campaign_pipelines.demo import report_activity
from campaign_pipelines.demo.user_activity import generate_user_activity, write_user_activity

MOVES = Path(report_activity.__file__).with_name("experiment_moves.csv")


def test_the_demo_activity_load_is_reported_as_a_materialization(data_dir, bare_home, capsys):
    write_user_activity(data_dir / "warehouse.duckdb", users=40)

    assert report_activity.main() == 0

    assert "sources/user_activity reported to Dagster" in capsys.readouterr().out
    with dg.DagsterInstance.from_config(str(bare_home)) as instance:
        event = instance.get_latest_materialization_event(USER_ACTIVITY)
    assert event is not None and event.run_id == ""  # runless: the feed loaded it, not a run
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 40
    assert metadata["last_activity_date"].value == "2026-11-01"


def test_the_sample_moves_apply_to_the_smallest_demo():
    rows = parse_assignments(MOVES.read_bytes(), MOVES.name)
    users = generate_user_activity(3)["user_streak_state"]["user_id"]

    check_streaks(rows, load_config_file(DEFAULT_CONFIG), MOVES.name)
    check_users(rows, users, MOVES.name)
    assert rows.height == 3
