"""Command files in landing/commands become runs of ``apply_commands_job``, under the admission
contract every landing sensor follows (defs/arrivals.py ``answer_arrivals``, README
"Admission"): files still being written wait, refused entries and files that are no command
(``core/commands.parse_command``: bad JSON, a duplicate key, an unknown field or command, an
empty file) move to rejected/ with their ``.error.json``, and each admitted arrival gets one run.

Commands are applied in arrival order, because their order can matter (a pause, then a
resume). So, as for signups, one tick's admitted files become ONE run, listing them oldest
first, the way defs/batched_arrivals.py says (one ``landing/arrival.<hash>`` tag per file, by
which an arrival's run is found). And a new file waits while an earlier run of
``apply_commands_job`` is queued, going or to be retried (the third documented reason to wait),
so a later command never overtakes an earlier one.

The sensor never opens the warehouse: whether a campaign exists is the run's question (a
delete of an unknown campaign is refused by the run, its file rejected naming it).
``campaigns run-pending`` evaluates this very function (``command_answers``).
"""

from pathlib import Path

import dagster as dg

from campaign_pipelines.core.commands import MAX_COMMAND_BYTES, parse_command
from campaign_pipelines.defs.arrivals import TickAnswers, answer_arrivals
from campaign_pipelines.defs.batched_arrivals import admit_by_file_tag, batch_request, take_batch
from campaign_pipelines.defs.commands.jobs import OP_NAME, apply_commands_job
from campaign_pipelines.defs.resources import CampaignDataResource
from campaign_pipelines.defs.run_states import going_run

KIND = "commands"
SUFFIXES = (".json",)
FILES_TAG = "commands/files"


def _holds_command(path: Path) -> None:
    """Refuses (``ProblemsError``) a file that is no command."""
    with path.open("rb") as handle:  # bounded: parse_command refuses what is longer
        parse_command(handle.read(MAX_COMMAND_BYTES + 1))


def command_answers(context: dg.SensorEvaluationContext,
                    campaign_data: CampaignDataResource) -> TickAnswers:
    """One tick over landing/commands: its answers, the admitted files as at most one run."""
    landing = campaign_data.landing()
    answers = answer_arrivals(context, landing, KIND, SUFFIXES,
                              admit_by_file_tag(context.instance, _holds_command),
                              quiet_seconds=campaign_data.landing_quiet_s)
    files = take_batch(answers, landing, hold=lambda: _held_by(context.instance))
    if files:
        answers.runs.append(batch_request(
            "commands", files, {"ops": {OP_NAME: {"config": {"files": files}}}}, FILES_TAG))
    return answers


def _held_by(instance: dg.DagsterInstance) -> str | None:
    """Why new files wait: a run of the job that is queued, going or to be retried, if any."""
    going = going_run(instance, apply_commands_job.name)
    return f"run {going.run_id} applies earlier commands first" if going else None


@dg.sensor(name="command_arrivals_sensor", job=apply_commands_job, minimum_interval_seconds=15,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every new .json command in landing/commands (the ingress's DELETE "
           "/campaigns/{code} writes them): one run of apply_commands_job per tick applies "
           "them in arrival order, each file archived, or rejected with its .error.json when "
           "its command is refused (an unknown campaign); a file that is no command moves to "
           "rejected/ at once. New files wait while an earlier commands run is going. The "
           "cursor only reports the last tick.")
def command_arrivals_sensor(context: dg.SensorEvaluationContext,
                            campaign_data: CampaignDataResource) -> dg.SensorResult:
    return command_answers(context, campaign_data).sensor_result()
