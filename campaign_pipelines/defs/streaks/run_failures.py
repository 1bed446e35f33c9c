"""When the last run for a manual assignment file fails, the file moves to rejected/.

``streak_assignments_sensor`` requests one run per file with Dagster run retries (2 more runs,
for failures outside a step). When a run fails, Dagster itself decides whether it will be
retried and records it on the run (``dagster/will_retry``, only while run retries are enabled
in the instance). This sensor watches failures of the manual-moves job and acts on a failed run
that will not be retried: it moves the file, if it is still in landing/assignments, to
rejected/ with an .error.json naming that run and its failure. A run Dagster will retry leaves
the file where it is, for the retry to take.
"""


import dagster as dg

from campaign_pipelines.adapters.storage import same_place, storage_path
from campaign_pipelines.defs.arrivals import RESEND_FIX
from campaign_pipelines.defs.resources import CampaignDataResource
from campaign_pipelines.defs.streaks.jobs import streak_manual_assignment_job
from campaign_pipelines.defs.streaks.sensors import MANUAL_OP

WILL_RETRY_TAG = "dagster/will_retry"
RETRY_NUMBER_TAG = "dagster/retry_number"


def is_last_attempt(run: dg.DagsterRun, instance: dg.DagsterInstance) -> bool:
    """Dagster's own verdict, read from the run as stored now (the tag is added when the
    failure is recorded, after the run object a sensor is handed may have been read)."""
    if not instance.run_retries_enabled:
        return True
    stored = instance.get_run_by_id(run.run_id) or run
    return stored.tags.get(WILL_RETRY_TAG, "false").lower() != "true"


@dg.run_failure_sensor(
    name="streak_assignment_failures_sensor",
    monitored_jobs=[streak_manual_assignment_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When the last run (after run retries) applying a landing/assignments file "
    "fails, moves the file to rejected/ with an .error.json naming the run and its failure.",
)
def streak_assignment_failures_sensor(
    context: dg.RunFailureSensorContext, campaign_data: CampaignDataResource
):
    run = context.dagster_run
    if not is_last_attempt(run, context.instance):
        return dg.SkipReason(f"run {run.run_id} failed; Dagster retries it")
    path = storage_path(run.run_config["ops"][MANUAL_OP]["config"]["file"])
    landing = campaign_data.landing()
    if not same_place(path.parent, landing.folder("assignments")) or not path.is_file():
        return dg.SkipReason(f"{path} is not waiting in landing/assignments")
    runs = int(run.tags.get(RETRY_NUMBER_TAG, "0")) + 1
    landing.reject(path, {"problems": [_gave_up(runs, run.run_id, _failure(context))]})
    context.log.warning(f"rejected {path.name}: {runs} runs failed, the last {run.run_id}")
    return None


def _failure(context: dg.RunFailureSensorContext) -> str:
    """Each failed step's own error; when its retries ran out, Dagster's "Exceeded max_retries"
    wraps the error the step raised, which is what a person needs to read."""
    errors = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        if error is None:
            continue
        outer = error.message.strip()
        while error.cause is not None:
            error = error.cause
        inner = error.message.strip()
        errors.append(f"{event.step_key}: {inner}" + (f" ({outer})" if inner != outer else ""))
    return "; ".join(errors) or (context.failure_event.message or "the run failed")


def _gave_up(runs: int, run_id: str, failure: str) -> dict:
    return {
        "field": "<run>",
        "problem": f"{runs} runs applying this file failed; the last was run {run_id}: "
        f"{failure}",
        "fix": RESEND_FIX,  # a moved file would be the same arrival, its failed run found
    }
