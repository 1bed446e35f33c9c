"""Signups and unsubscribes in, due e-mails out.

``sequence_arrivals_sensor`` answers landing/signups and landing/unsubscribes under the
admission contract every landing sensor follows (defs/arrivals.py ``answer_arrivals``, README
"Admission"). Unlike the campaign request sensor, one tick's admitted files of both folders
become ONE run of ``sequence_admission_job`` (a burst of signups is one run, not a run per
file), the way defs/batched_arrivals.py says: one ``landing/arrival.<hash>`` tag per file, by
which an arrival's run is found. A file the sensor cannot read whole is refused; a bad line in
a good file is refused by the run (its metadata and log name the line), the file's other lines
admitted. ``campaigns run-pending`` evaluates this very tick (``sequence_answers``).

``send_due_emails_sensor`` never opens the warehouse either: it reads ``next_due.json``, the
earliest moment anything is due, which every write of the sequence store leaves behind
(adapters/sequence_store.py), and requests ``send_due_emails_job`` only when that moment has
come and no send run is going; the run key is the minute, so a failed run is followed by a
new one the next minute, never a burst.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sequences.intake import parse_lines, parse_unsubscribes
from campaign_pipelines.defs.arrivals import TickAnswers, answer_arrivals
from campaign_pipelines.defs.batched_arrivals import admit_by_file_tag, batch_request, take_batch
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    SequencesResource,
    WarehouseResource,
    sequence_store,
)
from campaign_pipelines.defs.run_states import going_run
from campaign_pipelines.defs.sequences.assets import SIGNUPS_KEY, SUPPRESSIONS_KEY
from campaign_pipelines.defs.sequences.jobs import send_due_emails_job, sequence_admission_job
from campaign_pipelines.defs.settings import read_settings

KINDS = {"signups": SIGNUPS_KEY, "unsubscribes": SUPPRESSIONS_KEY}
SUFFIXES = (".jsonl",)
FILES_TAG = "sequences/files"


def whole_file_problems(kind: str, path: Path, known: set[str]) -> list[dict]:
    """What refuses a whole file before any run (the sensor and ``campaigns run-pending``
    alike): a file none of whose lines can be read, by its first 20 problems. A bad line in a
    good file is not: the run refuses it and admits the others."""
    if kind == "signups":
        records, problems = parse_lines(path.read_bytes(), known)
        return problems[:20] if problems and not records else []
    rows, problems = parse_unsubscribes(path.read_bytes())
    return problems[:20] if problems and rows.is_empty() else []


def _refuse_unreadable(kind: str, known: set[str]) -> Callable[[Path], None]:
    def check(path: Path) -> None:
        problems = whole_file_problems(kind, path, known)
        if problems:
            raise ProblemsError(problems)

    return check


def sequence_answers(context: dg.SensorEvaluationContext, campaign_data: CampaignDataResource,
                     sequences: SequencesResource) -> TickAnswers:
    """One tick over both folders: their answers, the admitted files as at most one run.
    Raises ``ProblemsError`` when the sequence definitions are unusable (the files wait)."""
    landing = campaign_data.landing()
    answers = TickAnswers.begin(context, landing, "signups")
    answers.folder = " or ".join(f"{landing.root.name}/{kind}" for kind in KINDS)
    if not any(landing.arrivals(kind, SUFFIXES, quiet_seconds=0) for kind in KINDS):
        return answers
    known = set(sequences.definitions())
    for kind in KINDS:
        admit = admit_by_file_tag(context.instance, _refuse_unreadable(kind, known), kind=kind)
        answers.absorb(answer_arrivals(context, landing, kind, SUFFIXES, admit,
                                       quiet_seconds=campaign_data.landing_quiet_s))
    files = take_batch(answers, landing)
    if files:
        by_kind: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        for file in files:
            by_kind[file.pop("kind")].append(file)
        answers.runs.append(batch_request("sequences", files, {"ops": {
            KINDS[kind].to_python_identifier(): {"config": {"files": batch}}
            for kind, batch in by_kind.items()}}, FILES_TAG))
    return answers


def arrival_runs(context: dg.SensorEvaluationContext, campaign_data: CampaignDataResource,
                 sequences: SequencesResource) -> dg.SensorResult:
    try:
        return sequence_answers(context, campaign_data, sequences).sensor_result()
    except ProblemsError as error:  # the files wait; nothing is rejected
        return dg.SensorResult(skip_reason=f"sequence definitions unusable: {error}")


def due_runs(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
             campaign_data: CampaignDataResource, sequences: SequencesResource
             ) -> dg.SensorResult:
    now = datetime.now(UTC)
    next_due = sequence_store(warehouse, campaign_data).next_due()
    if next_due is None:
        return dg.SensorResult(skip_reason="nothing is planned: no queued e-mail, no alert")
    if next_due > now:
        return dg.SensorResult(skip_reason=f"next e-mail or alert due at {next_due.isoformat()}")
    if not sequences.unsubscribe_secret:  # every run would fail on it: say so once, here
        return dg.SensorResult(skip_reason="e-mails are due but UNSUBSCRIBE_SECRET is not set "
                               "(every e-mail carries a signed unsubscribe link): set it where "
                               "the daemon and the runs read their environment")
    going = going_run(context.instance, send_due_emails_job.name)
    if going:
        return dg.SensorResult(skip_reason=f"run {going.run_id} is sending")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"send-due@{now:%Y-%m-%dT%H:%M}")])


def sequence_sensors(running: bool) -> list[dg.SensorDefinition]:
    status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(name="sequence_arrivals_sensor", job=sequence_admission_job,
               minimum_interval_seconds=30, default_status=status,
               description="Every new .jsonl file in landing/signups and landing/unsubscribes: "
               "one run per tick for all of them (signups recorded and enrolled, unsubscribes "
               "suppressed); a file that cannot be read moves to rejected/ with its "
               ".error.json. The cursor only reports the last tick.")
    def sequence_arrivals_sensor(context: dg.SensorEvaluationContext,
                                 campaign_data: CampaignDataResource,
                                 sequences: SequencesResource) -> dg.SensorResult:
        return arrival_runs(context, campaign_data, sequences)

    @dg.sensor(name="send_due_emails_sensor", job=send_due_emails_job,
               minimum_interval_seconds=30, default_status=status,
               description="Every 30 s: requests send_due_emails_job when an e-mail or a "
               "CRITICAL alert is due (read from next_due.json, never the warehouse) and no "
               "send run is going; one run key per minute.")
    def send_due_emails_sensor(context: dg.SensorEvaluationContext,
                               warehouse: WarehouseResource,
                               campaign_data: CampaignDataResource,
                               sequences: SequencesResource) -> dg.SensorResult:
        return due_runs(context, warehouse, campaign_data, sequences)

    return [sequence_arrivals_sensor, send_due_emails_sensor]


@dg.definitions
def sequences_sensor_definitions() -> dg.Definitions:
    """Sequence state lives in the DuckDB warehouse: with Oracle the sensors start stopped."""
    return dg.Definitions(sensors=sequence_sensors(read_settings().ops_state_available))
