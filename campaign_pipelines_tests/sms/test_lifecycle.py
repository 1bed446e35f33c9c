"""The campaign status machine, due campaigns and the runner's decision."""

from datetime import UTC, datetime, timedelta

import pytest

from campaign_pipelines.core.sms.lifecycle import (
    FINAL,
    TRANSITIONS,
    Command,
    Status,
    TransitionError,
    has_ended,
    is_due,
    may_send,
    runner_command,
    transition,
)

S, C = Status, Command
T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def test_the_seeds_path_and_pause_resume():
    status = S.SCHEDULED
    for command, expected in [(C.START, S.ACTIVE), (C.PAUSE, S.PAUSED), (C.RESUME, S.ACTIVE),
                              (C.COMPLETE, S.COMPLETED)]:
        status = transition(status, command)
        assert status == expected


@pytest.mark.parametrize("status", [S.SCHEDULED, S.ACTIVE, S.PAUSED])
def test_any_open_status_can_be_cancelled_or_end(status):
    assert transition(status, C.CANCEL) == S.CANCELLED
    assert transition(status, C.END) == S.COMPLETED


@pytest.mark.parametrize("status", sorted(FINAL))
@pytest.mark.parametrize("command", list(Command))
def test_nothing_leaves_a_final_status_except_a_repeated_cancel(status, command):
    if (status, command) == (S.CANCELLED, C.CANCEL):
        assert transition(status, command) == S.CANCELLED
        return
    with pytest.raises(TransitionError) as caught:
        transition(status, command, "dec")
    problem = caught.value.problems[0]
    assert problem["field"] == "command"
    assert problem["problem"] == f"cannot {command.value} campaign 'dec': it is {status.value}"


def test_repeated_commands_are_no_ops():
    assert transition(S.PAUSED, C.PAUSE) == S.PAUSED
    assert transition(S.ACTIVE, C.RESUME) == S.ACTIVE
    assert transition("Cancelled", "cancel") == S.CANCELLED


@pytest.mark.parametrize("status, command, fix", [
    (S.SCHEDULED, C.PAUSE, "cancel a Scheduled one instead"),
    (S.SCHEDULED, C.RESUME, "only a Paused campaign can be resumed"),
    (S.PAUSED, C.START, "only a Scheduled campaign starts"),
    (S.PAUSED, C.COMPLETE, "only an Active campaign completes"),
    (S.COMPLETED, C.CANCEL, "a Completed campaign is over"),
])
def test_refusals_name_the_command_the_status_and_a_fix(status, command, fix):
    with pytest.raises(TransitionError, match=f"cannot {command.value} campaign 'x'") as caught:
        transition(status, command, "x")
    assert fix in caught.value.problems[0]["fix"]
    assert (caught.value.status, caught.value.command) == (status, command)


def test_the_table_is_complete_and_only_active_sends():
    assert len(TRANSITIONS) == 13
    assert [s for s in Status if may_send(s)] == [S.ACTIVE]
    with pytest.raises(ValueError):
        transition("Running", C.START)


def test_due_means_scheduled_started_and_not_ended():
    end = T0 + timedelta(days=1)
    assert not is_due(S.SCHEDULED, T0, end, T0 - timedelta(seconds=1))
    assert is_due(S.SCHEDULED, T0, end, T0)
    assert is_due(S.SCHEDULED, T0 - timedelta(days=30), None, T0)  # a past start: now
    assert not is_due(S.SCHEDULED, T0, end, end)
    assert not is_due(S.PAUSED, T0, None, T0)
    with pytest.raises(ValueError, match="UTC offset"):
        is_due(S.SCHEDULED, T0, None, datetime(2026, 12, 1, 9, 0))
    assert has_ended(end, end) and not has_ended(None, end)


def test_the_runner_ends_starts_or_completes():
    end = T0 + timedelta(hours=12)
    before, during, after = T0 - timedelta(minutes=1), T0 + timedelta(hours=1), end
    assert runner_command(S.SCHEDULED, T0, end, before, all_rows_final=False) is None
    assert runner_command(S.SCHEDULED, T0, end, during, all_rows_final=False) == C.START
    assert runner_command(S.ACTIVE, T0, end, during, all_rows_final=False) is None
    assert runner_command(S.ACTIVE, T0, end, during, all_rows_final=True) == C.COMPLETE
    assert runner_command(S.PAUSED, T0, end, during, all_rows_final=True) is None
    for status in (S.SCHEDULED, S.ACTIVE, S.PAUSED):
        assert runner_command(status, T0, end, after, all_rows_final=False) == C.END
    for status in FINAL:
        assert runner_command(status, T0, end, after, all_rows_final=False) is None
