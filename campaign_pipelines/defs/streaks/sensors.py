"""Manual assignment files in landing/assignments become runs of the manual job, under the
admission contract every landing sensor follows (defs/arrivals.py, README "Admission").

The sensor never opens the warehouse: it checks what it can without it (CSV shape, known
streaks) and rejects a bad file at once; users are checked by the run, inside the transaction
that applies the file, which then archives or rejects it. A file still being written waits
for its quiet period; each arrival (name, content, modification time) gets exactly one run,
whose ``landing/arrival`` tag makes a second tick request nothing new. A tick reports as every
landing sensor's does (defs/arrivals.py): its skip reason names each refused file and its error
file, or says no new file arrived; its cursor is a JSON report of the last tick and the last
requested and rejected files, which nothing reads to decide.

Retries are not the sensor's, and each kind of failure has one layer: an error inside a step
is retried by the step's ``WAREHOUSE_RETRY``; a run that fails outside its steps (its worker
killed, a lost launch) is run again by Dagster's run retries (tags below: 3 runs in all, from
the failed step). When a failed run will not be retried, ``streak_assignment_failures_sensor``
(run_failures.py) moves the file to rejected/ naming that run and its step's error; should a
tick see the finished run first, the arrivals contract rejects the file naming the run.

The sensor is built inside ``@dg.definitions`` so the settings (is streak state available
here?) are read when the definitions load, never at import.
"""

from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.journey_config import ConfigServiceError
from campaign_pipelines.core.streaks.config import ConfigError
from campaign_pipelines.core.streaks.manual import check_streaks, parse_assignments
from campaign_pipelines.defs.arrivals import (
    ARRIVAL_TAG,
    Admission,
    TickAnswers,
    answer_arrivals,
)
from campaign_pipelines.defs.resources import CampaignDataResource, JourneyConfigResource
from campaign_pipelines.defs.retries import RETRY_TAGS
from campaign_pipelines.defs.settings import read_settings
from campaign_pipelines.defs.streaks.assets import manual_assignments
from campaign_pipelines.defs.streaks.jobs import streak_manual_assignment_job

MANUAL_OP = manual_assignments.op.name  # the step the file path is configured on
SENSOR_NAME = "streak_assignments_sensor"
FILE_TAG = "streaks/assignment_file"
SUFFIXES = (".csv",)


def run_config_for(path: str) -> dict:
    return {"ops": {MANUAL_OP: {"config": {"file": path}}}}


def assignment_runs(
    context: dg.SensorEvaluationContext,
    campaign_data: CampaignDataResource,
    journey_config: JourneyConfigResource,
) -> dg.SensorResult:
    """One evaluation: a run request for each new well-formed file, a rejection for each bad
    one. The journey config is read only when the folder holds a file to answer."""
    landing = campaign_data.landing()
    if not landing.arrivals("assignments", SUFFIXES, quiet_seconds=0):
        return TickAnswers.begin(context, landing, "assignments").sensor_result()
    try:
        config, _ = journey_config.load()
    except (ConfigError, ConfigServiceError) as error:  # the files wait; nothing is rejected
        return dg.SensorResult(skip_reason=f"journey config unavailable: {error}")

    def admit(path: Path, fingerprint: str, arrival_id: str) -> Admission:
        check_streaks(parse_assignments(path.read_bytes(), path.name), config, path.name)
        tags = {ARRIVAL_TAG: arrival_id, FILE_TAG: path.name, **RETRY_TAGS}
        return Admission(dg.RunRequest(run_key=arrival_id, run_config=run_config_for(str(path)),
                                       tags=tags))

    answers = answer_arrivals(context, landing, "assignments", SUFFIXES, admit,
                              quiet_seconds=campaign_data.landing_quiet_s)
    return answers.sensor_result()


def assignments_sensor(running: bool) -> dg.SensorDefinition:
    """The sensor, started by default only where streak state lives (``running``)."""
    status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(
        name=SENSOR_NAME,
        job=streak_manual_assignment_job,
        minimum_interval_seconds=30,
        default_status=status,
        description="Each new user_id,streak CSV in landing/assignments: a well-formed one "
        "becomes a manual-assignment run (run again up to 2 times only if it dies outside its "
        "steps), a bad one moves to rejected/ with an .error.json that the tick's skip reason "
        "names. The cursor only reports the last tick and the last requested and rejected "
        "files; clearing it changes nothing.",
    )
    def streak_assignments_sensor(
        context: dg.SensorEvaluationContext,
        campaign_data: CampaignDataResource,
        journey_config: JourneyConfigResource,
    ) -> dg.SensorResult:
        return assignment_runs(context, campaign_data, journey_config)

    return streak_assignments_sensor


@dg.definitions
def streak_assignment_sensors() -> dg.Definitions:
    return dg.Definitions(sensors=[assignments_sensor(read_settings().ops_state_available)])

