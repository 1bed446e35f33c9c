"""Manual assignment files in landing/assignments become runs of the manual job.

The sensor never opens the warehouse: it checks what it can without it (CSV shape, known
streaks) and rejects a bad file at once; users are checked by the run, inside the transaction
that applies the file, which then archives or rejects it. Until then the file stays pending;
the cursor remembers which (name, content) pairs already have a run, so none gets two.
"""

import json

import dagster as dg

from campaign_pipelines.adapters.journey_config import ConfigServiceError
from campaign_pipelines.adapters.landing import file_fingerprint
from campaign_pipelines.core.streaks.config import ConfigError
from campaign_pipelines.core.streaks.manual import AssignmentError, check_streaks, parse_assignments
from campaign_pipelines.defs.resources import CampaignDataResource
from campaign_pipelines.defs.streaks.jobs import streak_manual_assignment_job
from campaign_pipelines.defs.streaks.resources import JourneyConfigResource

MANUAL_OP = "streaks__manual_assignments"


def run_config_for(path: str) -> dict:
    return {"ops": {MANUAL_OP: {"config": {"file": path}}}}


@dg.sensor(
    name="streak_assignments_sensor",
    job=streak_manual_assignment_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
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
        return dg.SensorResult(skip_reason="no file in landing/assignments", cursor="[]")
    try:
        config, _ = journey_config.load()
    except (ConfigError, ConfigServiceError) as error:
        return dg.SensorResult(skip_reason=f"journey config unavailable: {error}",
                               cursor=context.cursor)
    requested = set(json.loads(context.cursor or "[]"))
    still_pending, runs = [], []
    for path in pending:
        try:
            key = f"{path.name}:{file_fingerprint(path)[:16]}"
        except FileNotFoundError:
            continue  # `campaigns streaks assign` took it since the listing
        if key in requested:
            still_pending.append(key)
            continue
        try:
            check_streaks(parse_assignments(path.read_bytes(), path.name), config, path.name)
        except AssignmentError as error:
            landing.reject(path, {"problems": error.problems})
            context.log.warning(f"rejected {path.name}: {error}")
            continue
        still_pending.append(key)
        runs.append(dg.RunRequest(run_key=key, run_config=run_config_for(str(path)),
                                  tags={"streaks/assignment_file": path.name}))
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(sorted(still_pending)))
