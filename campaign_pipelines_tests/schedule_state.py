"""A schedule stopped in an instance before any daemon reads it, as the UI's toggle leaves it.

The SMS runner's schedule (``sms_runner_schedule``, every minute, running by default where the
warehouse is DuckDB) makes a run whenever a test's daemon crosses a minute boundary: a run
worker of about 4 s of CPU, and whatever the test launched waits behind it in the queue. Tests
that start a daemon for another purpose stop it first; the many-processes soak keeps it, a
writer like any other.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    ScheduleInstigatorData,
)

# The repository a module's `@dg.definitions` becomes in a code location.
REPOSITORY = "__repository__"


def stop_schedule(instance: dg.DagsterInstance, location_name: str, name: str,
                  cron_schedule: str) -> None:
    """Stores ``name`` as stopped for code location ``location_name``. The scheduler finds a
    schedule's state by its selector (location, repository, name), so the state applies to
    whichever process serves that location under that name."""
    origin = RemoteInstigatorOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(location_name), REPOSITORY), name)
    instance.add_instigator_state(InstigatorState(
        origin, InstigatorType.SCHEDULE, InstigatorStatus.STOPPED,
        ScheduleInstigatorData(cron_schedule)))


def stop_sms_runner(instance: dg.DagsterInstance, location_name: str) -> None:
    from campaign_pipelines.defs.sms.schedules import runner_schedule

    schedule = runner_schedule(running=True)  # its name and cron as the code declares them
    stop_schedule(instance, location_name, schedule.name, schedule.cron_schedule)
