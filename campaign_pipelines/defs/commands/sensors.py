"""Command files in landing/commands become runs of ``apply_commands_job``, under the admission
contract every landing sensor follows (defs/arrivals.py ``answer_arrivals``, README
"Admission"): files still being written wait, refused entries and files that are no command
(``core/commands.parse_command``: bad JSON, a duplicate key, an unknown field or command, an
empty file) move to rejected/ with their ``.error.json``, and each admitted arrival gets one run.

Commands are applied in arrival order, because their order can matter (a pause, then a
resume). So, as for signups, one tick's admitted files become ONE run, listing them oldest
first; the run carries one tag per file (``landing/arrival.<hash>``, the sequences'
``file_tag``), and this sensor's admit function looks an arrival up by it: a run still going
(or to be retried) holds its file back, a successful run archives a copy put back, a run that
gave up gets the file rejected naming the run. And a new file waits while an earlier run of
``apply_commands_job`` is queued, going or to be retried (the third documented reason to wait),
so a later command never overtakes an earlier one. The run key is the hash of the batch's
arrivals: evaluating a tick again requests nothing new.

The sensor never opens the warehouse: whether a campaign exists is the run's question (a
delete of an unknown campaign is refused by the run, its file rejected naming it).
``campaigns run-pending`` evaluates this very function (``command_answers``).
"""

import hashlib
from pathlib import Path

import dagster as dg

from campaign_pipelines.core.commands import MAX_COMMAND_BYTES, parse_command
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.defs.arrivals import (
    Admission,
    TickAnswers,
    answer_arrivals,
    earlier_runs,
    gave_up,
)
from campaign_pipelines.defs.commands.jobs import OP_NAME, apply_commands_job
from campaign_pipelines.defs.resources import CampaignDataResource
from campaign_pipelines.defs.retries import RETRY_TAGS
from campaign_pipelines.defs.sequences.sensors import file_tag

KIND = "commands"
SUFFIXES = (".json",)
MAX_FILES = 200  # per run; the rest wait for the next tick
STATE_TAG = "commands/admission"  # new | in_flight | built: admit_for's answer
FILES_TAG = "commands/files"


def admit_for(instance: dg.DagsterInstance):
    """The admit function: an arrival whose run is going waits, one built is archived, one
    whose run gave up is refused naming it, a new one is admitted if it holds a command."""

    def admit(path: Path, fingerprint: str, arrival_id: str) -> Admission:
        earlier, run = earlier_runs(instance, {file_tag(arrival_id): "1"})
        if earlier == "in_flight":
            return _marked("in_flight")
        if earlier == "built":
            return _marked("built", path=str(path))
        if run is not None:
            raise ProblemsError([gave_up(run)])
        with open(path, "rb") as handle:  # bounded: parse_command refuses what is longer
            parse_command(handle.read(MAX_COMMAND_BYTES + 1))
        return _marked("new", path=str(path), fingerprint=fingerprint, arrival=arrival_id)

    return admit


def _marked(state: str, **file: str) -> Admission:
    return Admission(dg.RunRequest(tags={STATE_TAG: state, **file}))


def command_answers(context: dg.SensorEvaluationContext,
                    campaign_data: CampaignDataResource) -> TickAnswers:
    """One tick over landing/commands: its answers, the admitted files as at most one run."""
    landing = campaign_data.landing()
    answers = answer_arrivals(context, landing, KIND, SUFFIXES, admit_for(context.instance),
                              quiet_seconds=campaign_data.landing_quiet_s)
    new = any(request.tags[STATE_TAG] == "new" for request in answers.runs)
    _batch(answers, landing, _going_run(context.instance) if new else None)
    return answers


def _going_run(instance: dg.DagsterInstance) -> str | None:
    """The id of a run of the job that is queued, going or to be retried, if any."""
    for run in instance.get_runs(dg.RunsFilter(job_name=apply_commands_job.name), limit=20):
        if not run.is_finished or run.is_complete_and_waiting_to_retry:
            return run.run_id
    return None


def _batch(answers: TickAnswers, landing, going: str | None) -> None:
    """The tick's admitted files as one run request, oldest first (module docstring)."""
    files: list[dict[str, str]] = []
    requested: list[str] = []
    for request, name in zip(answers.runs, answers.requested, strict=True):
        state = request.tags[STATE_TAG]
        if state == "in_flight":
            answers.in_flight += 1
        elif state == "built":
            landing.archive(Path(request.tags["path"]))
            answers.archived.append(name)
        elif going is not None:
            answers.waiting.append(f"{name} (run {going} applies earlier commands first)")
        elif len(files) >= MAX_FILES:
            answers.waiting.append(f"{name} (the run's {MAX_FILES} files are taken: next tick)")
        else:
            files.append({k: request.tags[k] for k in ("path", "fingerprint", "arrival")})
            requested.append(name)
    answers.requested, answers.runs = requested, []
    if files:
        arrivals = [f["arrival"] for f in files]
        answers.runs.append(dg.RunRequest(
            run_key="commands@" + hashlib.sha256("|".join(arrivals).encode()).hexdigest()[:32],
            run_config={"ops": {OP_NAME: {"config": {"files": files}}}},
            tags={**{file_tag(a): "1" for a in arrivals}, **RETRY_TAGS,
                  FILES_TAG: str(len(files))}))


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
