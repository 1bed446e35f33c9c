"""Manual assignment files in landing/assignments become runs of the manual job.

The sensor never opens the warehouse: it checks what it can without it (CSV shape, known
streaks) and rejects a bad file at once; users are checked by the run, inside the transaction
that applies the file, which then archives or rejects it. Until then the file stays pending;
the cursor remembers which (name, content) pairs already have a run and how many, so none gets
two at once. A run that failed for another reason (warehouse locked, config service down)
leaves the file pending: the sensor starts it again, up to MAX_ATTEMPTS runs, then moves the
file to rejected/ naming the last failed run, so a file is never stuck without a word.
"""

import json

import dagster as dg

from campaign_pipelines.adapters.journey_config import ConfigServiceError
from campaign_pipelines.adapters.landing import fingerprint_if_present
from campaign_pipelines.core.streaks.config import ConfigError
from campaign_pipelines.core.streaks.manual import AssignmentError, check_streaks, parse_assignments
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    JourneyConfigResource,
    streak_state_available,
)
from campaign_pipelines.defs.streaks.jobs import streak_manual_assignment_job

MANUAL_OP = "streaks__manual_assignments"


def run_config_for(path: str) -> dict:
    return {"ops": {MANUAL_OP: {"config": {"file": path}}}}


@dg.sensor(
    name="streak_assignments_sensor",
    job=streak_manual_assignment_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING
    if streak_state_available()
    else dg.DefaultSensorStatus.STOPPED,
    description="Each new user_id,streak CSV in landing/assignments: a well-formed one becomes a "
    "manual-assignment run, a bad one moves to rejected/ with an .error.json.",
)
def streak_assignments_sensor(
    context: dg.SensorEvaluationContext,
    campaign_data: CampaignDataResource,
    journey_config: JourneyConfigResource,
) -> dg.SensorResult:
    landing = campaign_data.landing()
    pending = landing.pending("assignments", (".csv",))
    if not pending:
        return dg.SensorResult(skip_reason="no file in landing/assignments", cursor="{}")
    try:
        config, _ = journey_config.load()
    except (ConfigError, ConfigServiceError) as error:
        return dg.SensorResult(skip_reason=f"journey config unavailable: {error}",
                               cursor=context.cursor)
    attempts = _attempts(context.cursor)
    still_pending, runs = {}, []
    for path in pending:
        fingerprint = fingerprint_if_present(path)
        if fingerprint is None:
            continue  # `campaigns streaks assign` took it since the listing
        key = f"{path.name}:{fingerprint[:16]}"
        if key in attempts:
            failed = _failed_run_id(context.instance, _run_key(key, attempts[key]))
            if failed is None:  # queued, running, or done and about to move the file
                still_pending[key] = attempts[key]
                continue
            if attempts[key] >= MAX_ATTEMPTS:
                landing.reject(path, {"problems": [_gave_up(attempts[key], failed)]})
                context.log.warning(f"rejected {path.name}: {attempts[key]} runs failed")
                continue
        else:
            try:
                check_streaks(parse_assignments(path.read_bytes(), path.name), config, path.name)
            except AssignmentError as error:
                landing.reject(path, {"problems": error.problems})
                context.log.warning(f"rejected {path.name}: {error}")
                continue
        attempt = attempts.get(key, 0) + 1
        still_pending[key] = attempt
        runs.append(dg.RunRequest(run_key=_run_key(key, attempt),
                                  run_config=run_config_for(str(path)),
                                  tags={"streaks/assignment_file": path.name,
                                        "streaks/attempt": str(attempt)}))
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(still_pending, sort_keys=True))


MAX_ATTEMPTS = 3
_GAVE_UP_STATUSES = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _attempts(cursor: str | None) -> dict[str, int]:
    """The cursor: pending file key -> runs requested for it (a list: an older cursor)."""
    raw = json.loads(cursor or "{}")
    if isinstance(raw, list):
        raw = dict.fromkeys(raw, 1)
    return {str(key): int(count) for key, count in raw.items()}


def _run_key(key: str, attempt: int) -> str:
    return key if attempt == 1 else f"{key}:attempt-{attempt}"


def _failed_run_id(instance: dg.DagsterInstance, run_key: str) -> str | None:
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/run_key": run_key}, statuses=_GAVE_UP_STATUSES),
        limit=1,
    )
    return runs[0].run_id if runs else None


def _gave_up(attempts: int, run_id: str) -> dict:
    return {
        "field": "<run>",
        "problem": f"{attempts} runs applying this file failed; the last was run {run_id}",
        "fix": "read that run's error in the Dagster UI, fix the cause, and drop the file "
        "into landing/assignments again",
    }
