"""An SMS campaign's status and the commands that move it (the seed's Scheduled → Active →
Completed, with Paused, made strict).

    Scheduled --start--> Active --complete--> Completed
                         Active --pause--> Paused --resume--> Active
    Scheduled | Active | Paused --cancel--> Cancelled
    Scheduled | Active | Paused --end--> Completed        (end_at has passed)

Decisions:
- Completed and Cancelled are final: no command leaves them, and only Active may send
  (``may_send``), so nothing is ever sent after either.
- ``start``, ``complete`` and ``end`` are the runner's; ``pause``, ``resume`` and ``cancel`` are
  people's (CLI, landing/commands, the API). Cancelled always means a person cancelled.
- A command asking for the status the campaign already has (pause a Paused one, resume an
  Active one, cancel a Cancelled one) is a no-op, not an error: commands arrive through files
  and webhooks that may be delivered twice, and a repeat must not become a rejected file.
- Pause applies to Active only: a Scheduled campaign has nothing to pause (cancel it, or move
  its start by replacing the file).
- A campaign whose ``end_at`` has passed ends as Completed, whether Active, Paused or never
  started: its window is over, which is what Completed says; the ledger rows not yet sent are
  marked ``expired`` (core/sms/ledger.py) and the run result says how many.
- Due: Scheduled, ``start_at`` <= now, and ``end_at`` not passed. A start in the past thus
  starts at the next tick. Every ``now`` must carry its UTC offset.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from campaign_pipelines.core.problems import ProblemsError


class Status(StrEnum):
    SCHEDULED = "Scheduled"
    ACTIVE = "Active"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


class Command(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    COMPLETE = "complete"
    END = "end"


S, C = Status, Command
FINAL = frozenset({S.COMPLETED, S.CANCELLED})
PEOPLE_COMMANDS = (C.PAUSE, C.RESUME, C.CANCEL)
TRANSITIONS: dict[tuple[Status, Command], Status] = {
    (S.SCHEDULED, C.START): S.ACTIVE,
    (S.ACTIVE, C.PAUSE): S.PAUSED,
    (S.PAUSED, C.PAUSE): S.PAUSED,
    (S.PAUSED, C.RESUME): S.ACTIVE,
    (S.ACTIVE, C.RESUME): S.ACTIVE,
    (S.ACTIVE, C.COMPLETE): S.COMPLETED,
    **{(status, C.CANCEL): S.CANCELLED for status in (S.SCHEDULED, S.ACTIVE, S.PAUSED)},
    (S.CANCELLED, C.CANCEL): S.CANCELLED,
    **{(status, C.END): S.COMPLETED for status in (S.SCHEDULED, S.ACTIVE, S.PAUSED)},
}
_FIXES = {
    C.PAUSE: "only an Active campaign can be paused; cancel a Scheduled one instead",
    C.RESUME: "only a Paused campaign can be resumed",
    C.CANCEL: "a Completed campaign is over; nothing is left to cancel",
    C.START: "only a Scheduled campaign starts",
    C.COMPLETE: "only an Active campaign completes",
    C.END: "the campaign has ended already",
}


class TransitionError(ProblemsError):
    """A command the campaign's status does not allow; names the command and the status."""

    def __init__(self, name: str, status: Status, command: Command):
        self.status, self.command = status, command
        fix = "none: it is final" if status in FINAL and command != C.CANCEL else _FIXES[command]
        super().__init__([{"field": "command", "problem": f"cannot {command.value} campaign "
                           f"{name!r}: it is {status.value}", "fix": fix}])


def transition(status: Status | str, command: Command | str, name: str = "") -> Status:
    """The status after ``command``, or TransitionError. Unknown texts are ValueError."""
    status, command = Status(status), Command(command)
    try:
        return TRANSITIONS[(status, command)]
    except KeyError:
        raise TransitionError(name, status, command) from None


def may_send(status: Status | str) -> bool:
    """Only an Active campaign sends: checked before every message, not once per run."""
    return Status(status) == S.ACTIVE


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must carry its UTC offset")
    return now


def has_ended(end_at: datetime | None, now: datetime) -> bool:
    return end_at is not None and _aware(now) >= end_at


def is_due(status: Status | str, start_at: datetime, end_at: datetime | None,
           now: datetime) -> bool:
    """Scheduled, started (``start_at`` <= now) and not ended."""
    return (Status(status) == S.SCHEDULED and start_at <= _aware(now)
            and not has_ended(end_at, now))


def runner_command(status: Status | str, start_at: datetime, end_at: datetime | None,
                   now: datetime, *, all_rows_final: bool) -> Command | None:
    """What the runner does to a campaign at ``now``: end it when its window has passed, start
    it when due, complete it when Active with every ledger row final; else nothing."""
    status = Status(status)
    if status in FINAL:
        return None
    if has_ended(end_at, now):
        return C.END
    if is_due(status, start_at, end_at, now):
        return C.START
    if status == S.ACTIVE and all_rows_final:
        return C.COMPLETE
    return None
