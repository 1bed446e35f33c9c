"""The SMS store's campaign registry and commands on a real DuckDB file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.lifecycle import Status, TransitionError
from campaign_pipelines_tests.sms.adapters.fakes import T0, create, prospects, start, store_at

NAME = "dec-cashback"


def test_a_scheduled_campaign_is_replaced_a_started_one_only_by_itself(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    assert create(store, NAME) == "created"
    assert create(store, NAME) == "unchanged"
    assert create(store, NAME, template="Hello {{ first_name }}") == "replaced"
    assert store.campaign(NAME)["template"] == "Hello {{ first_name }}"
    start(store, NAME, 5)
    assert create(store, NAME, template="Hello {{ first_name }}") == "unchanged"
    with pytest.raises(ProblemsError, match="only a Scheduled campaign can be replaced"):
        create(store, NAME, template="Other {{ first_name }}")


def test_commands_follow_the_lifecycle_and_repeat_harmlessly(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    with pytest.raises(TransitionError, match="cannot pause"):
        store.apply_command(NAME, "pause", T0)
    start(store, NAME, 5)
    assert store.apply_command(NAME, "pause", T0) == (Status.ACTIVE, Status.PAUSED)
    assert store.apply_command(NAME, "pause", T0) == (Status.PAUSED, Status.PAUSED)
    assert store.status_marker(NAME) == Status.PAUSED
    assert store.apply_command(NAME, "resume", T0 + timedelta(minutes=1))[1] == Status.ACTIVE
    assert store.apply_command(NAME, "cancel", T0)[1] == Status.CANCELLED
    with pytest.raises(TransitionError):
        store.apply_command(NAME, "resume", T0)
    campaign = store.campaign(NAME)
    assert campaign["paused_at"] == T0 and campaign["cancelled_at"] == T0
    with pytest.raises(ProblemsError, match="no SMS campaign 'nope'"):
        store.apply_command("nope", "pause", T0)


def test_prospects_are_queued_once(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    found = prospects(NAME, 10)
    queued = store.start(NAME, found.rows, T0, invalid=2, duplicate=1)
    assert (queued.queued, queued.already) == (10, 0)
    again = store.queue(NAME, prospects(NAME, 15).rows, T0)
    assert (again.queued, again.already) == (5, 10)
    campaign = store.campaign(NAME)
    assert (campaign["invalid_numbers"], campaign["duplicate_numbers"]) == (2, 1)
    keys = store.ledger(NAME)["idempotency_key"]
    assert keys.n_unique() == 15 and keys.str.starts_with("sms-").all()


def test_a_stop_request_left_by_a_killed_command_is_ignored_after_a_while(
        tmp_path: Path) -> None:
    import os

    from campaign_pipelines.adapters.sms_store import REQUEST_TTL_S
    from campaign_pipelines.core.sms.lifecycle import Command

    store = store_at(tmp_path / "w.duckdb")
    store.marker_folder.mkdir(parents=True)
    request = store.marker_folder / f"{NAME}.request"
    request.write_text("pause")
    assert store.stop_request(NAME) == Command.PAUSE
    old = request.stat().st_mtime - REQUEST_TTL_S - 1
    os.utime(request, (old, old))
    assert store.stop_request(NAME) is None
