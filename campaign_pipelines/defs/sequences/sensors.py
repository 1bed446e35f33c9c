"""Signups and unsubscribes in, due e-mails out.

``sequence_arrivals_sensor`` answers landing/signups and landing/unsubscribes under the
admission contract every landing sensor follows (defs/arrivals.py ``answer_arrivals``, README
"Admission"): waiting, refused and already-built files are answered there. Unlike the other
sensors, one tick's admitted files of both folders become ONE run of
``sequence_admission_job`` (a burst of signups is one run, not a run per file). A run can hold
only one ``landing/arrival`` tag, so the batch run carries one tag per file,
``landing/arrival.<sha256(arrival)[:20]>``, and this sensor's admit function looks an arrival
up by that tag itself: a run still going (or to be retried) holds the file back, a successful
run archives a copy put back, a run that gave up gets the file rejected naming the run. The
run key is the hash of the batch's arrivals, so evaluating a tick again requests nothing new.
A file the sensor cannot read whole is refused; a bad line in a good file is refused by the
run (its metadata and log name the line), the file's other lines admitted.

``send_due_emails_sensor`` never opens the warehouse either: it reads ``next_due.json``, the
earliest moment anything is due, which every write of the sequence store leaves behind
(adapters/sequence_store.py), and requests ``send_due_emails_job`` only when that moment has
come and no send run is going; the run key is the minute, so a failed run is followed by a
new one the next minute, never a burst.
"""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sequences.intake import parse_lines, parse_unsubscribes
from campaign_pipelines.defs.arrivals import (
    Admission,
    TickAnswers,
    answer_arrivals,
    earlier_runs,
    gave_up,
)
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    SequencesResource,
    WarehouseResource,
    sequence_store,
)
from campaign_pipelines.defs.retries import RETRY_TAGS
from campaign_pipelines.defs.sequences.assets import SIGNUPS_KEY, SUPPRESSIONS_KEY
from campaign_pipelines.defs.sequences.jobs import send_due_emails_job, sequence_admission_job
from campaign_pipelines.defs.settings import read_settings

KINDS = {"signups": SIGNUPS_KEY, "unsubscribes": SUPPRESSIONS_KEY}
SUFFIXES = (".jsonl",)
FILE_TAG_PREFIX = "landing/arrival."
MAX_FILES = 200  # per run; the rest wait for the next tick
ADMISSION_TAG = "sequences/admission"  # new | in_flight | built: admit_for's answer


def file_tag(arrival_id: str) -> str:
    return FILE_TAG_PREFIX + hashlib.sha256(arrival_id.encode()).hexdigest()[:20]


def whole_file_problems(kind: str, path: Path, known: set[str]) -> list[dict]:
    """What refuses a whole file before any run (the sensor and ``campaigns run-pending``
    alike): a file none of whose lines can be read, by its first 20 problems. A bad line in a
    good file is not: the run refuses it and admits the others."""
    if kind == "signups":
        records, problems = parse_lines(path.read_bytes(), known)
        return problems[:20] if problems and not records else []
    rows, problems = parse_unsubscribes(path.read_bytes())
    return problems[:20] if problems and rows.is_empty() else []


def admit_for(instance: dg.DagsterInstance, kind: str, known: set[str]):
    """The admit function of ``kind`` for the sensor and ``campaigns run-pending`` alike: an
    arrival whose batch run is going waits, one built is archived, one whose run gave up is
    refused naming it, a new one is admitted unless ``whole_file_problems`` refuses it."""

    def admit(path: Path, fingerprint: str, arrival_id: str) -> Admission:
        earlier, run = earlier_runs(instance, {file_tag(arrival_id): "1"})
        if earlier == "in_flight":
            return _marked("in_flight")
        if earlier == "built":
            return _marked("built", path=str(path))
        if run is not None:
            raise ProblemsError([gave_up(run)])
        problems = whole_file_problems(kind, path, known)
        if problems:
            raise ProblemsError(problems)
        return _marked("new", kind=kind, path=str(path), fingerprint=fingerprint,
                       arrival=arrival_id)

    return admit


def _marked(state: str, **file: str) -> Admission:
    return Admission(dg.RunRequest(tags={ADMISSION_TAG: state, **file}))


def arrival_runs(context: dg.SensorEvaluationContext, campaign_data: CampaignDataResource,
                 sequences: SequencesResource) -> dg.SensorResult:
    landing = campaign_data.landing()
    answers = TickAnswers.begin(context, landing, "signups")
    answers.folder = " or ".join(f"{Path(landing.root).name}/{kind}" for kind in KINDS)
    if not any(landing.arrivals(kind, SUFFIXES, quiet_seconds=0) for kind in KINDS):
        return answers.sensor_result()
    try:
        known = set(sequences.definitions())
    except ProblemsError as error:  # the files wait; nothing is rejected
        return dg.SensorResult(skip_reason=f"sequence definitions unusable: {error}")
    for kind in KINDS:
        part = answer_arrivals(context, landing, kind, SUFFIXES,
                               admit_for(context.instance, kind, known),
                               quiet_seconds=campaign_data.landing_quiet_s)
        for name in ("runs", "requested", "rejected", "archived", "waiting", "troubles"):
            getattr(answers, name).extend(getattr(part, name))
        answers.in_flight += part.in_flight
    _batch(answers, landing)
    return answers.sensor_result()


def _batch(answers: TickAnswers, landing) -> None:
    """The tick's admitted files as one run request (module docstring)."""
    files: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    requested = []
    for request, name in zip(answers.runs, answers.requested, strict=True):
        state = request.tags[ADMISSION_TAG]
        if state == "in_flight":
            answers.in_flight += 1
        elif state == "built":
            landing.archive(Path(request.tags["path"]))
            answers.archived.append(name)
        elif sum(map(len, files.values())) >= MAX_FILES:
            answers.waiting.append(f"{name} (the run's {MAX_FILES} files are taken: next tick)")
        else:
            files[request.tags["kind"]].append({k: request.tags[k] for k in
                                                ("path", "fingerprint", "arrival")})
            requested.append(name)
    answers.requested = requested
    answers.runs = []
    if requested:
        arrivals = sorted(f["arrival"] for batch in files.values() for f in batch)
        answers.runs.append(dg.RunRequest(
            run_key="sequences@" + hashlib.sha256("|".join(arrivals).encode()).hexdigest()[:32],
            run_config={"ops": {KINDS[kind].to_python_identifier(): {"config": {"files": batch}}
                                for kind, batch in files.items()}},
            tags={**{file_tag(a): "1" for a in arrivals}, **RETRY_TAGS,
                  "sequences/files": str(len(arrivals))}))


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
    going = context.instance.get_runs(filters=dg.RunsFilter(
        job_name=send_due_emails_job.name, statuses=[
            dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]), limit=1)
    if going:
        return dg.SensorResult(skip_reason=f"run {going[0].run_id} is sending")
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
