"""One sensor tick over a landing folder: every arrival gets an answer (adapters/admission.py).

A sensor built on ``answer_arrivals`` only reads, validates and requests runs:
- a file still being written (or a writer's temp file) waits, and the skip reason says so;
- a refused entry (unknown extension, a directory, a symlink, a request that cannot run) moves
  to ``rejected/`` with its ``.error.json``;
- an admitted file gets exactly one run per arrival: the run key and the ``landing/arrival``
  tag name the arrival (its name, content hash and modification time), so evaluating the same
  tick twice requests nothing new; the run's first step takes the file into ``archive/``;
- a file whose run ended without taking it (failed before its first step, canceled) is
  rejected naming that run, unless Dagster's run retries will run it again;
- a landing folder the sensor cannot write to, or a full disk, fails that one file with a
  clear message; the rest of the tick goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.core.problems import ProblemsError

ARRIVAL_TAG = "landing/arrival"
# What to do with a file whose run failed: every sensor that rejects one after its run says it.
RESEND_FIX = (
    "read that run's error in the Dagster UI, fix the cause, and copy the file into the landing "
    "folder again (a copy is a new arrival; a move keeps its old time)"
)


def arrival_key(name: str, content_id: str) -> str:
    """The ``landing/arrival`` tag: the name too, as two copies of one file (cp -p, an unzip)
    are two arrivals; ``content_id`` is ``Arrival.identify``'s hash and modification time."""
    return f"{name}@{content_id}"


@dataclass(frozen=True)
class Admission:
    """What a sensor's admit function returns for one admitted file."""

    run_request: dg.RunRequest
    partition_key: str | None = None


# admit(path, fingerprint, arrival_id) -> Admission, or ProblemsError when refused
Admit = Callable[[Path, str, str], Admission]


@dataclass
class TickAnswers:
    runs: list[dg.RunRequest] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    in_flight: int = 0
    troubles: list[str] = field(default_factory=list)

    def sensor_result(
        self, partitions_def: dg.DynamicPartitionsDefinition | None = None
    ) -> dg.SensorResult:
        cursor = (f"requested={len(self.runs)} rejected={len(self.rejected)} "
                  f"waiting={len(self.waiting)} in_flight={self.in_flight}")
        partitions = sorted(set(self.partitions))  # two files, one key: add it once
        requests = (
            [partitions_def.build_add_request(partitions)] if partitions_def and partitions else []
        )
        if self.runs:
            return dg.SensorResult(
                run_requests=self.runs, dynamic_partitions_requests=requests, cursor=cursor
            )
        said = [f"rejected {name} (see rejected/{name}.error.json)" for name in self.rejected]
        said += [f"waiting for {text}" for text in self.waiting]
        said += self.troubles
        if self.in_flight:
            said.append(f"{self.in_flight} admitted file(s) wait for their runs to take them")
        return dg.SensorResult(skip_reason="; ".join(said) or "nothing new", cursor=cursor)


def answer_arrivals(
    context: dg.SensorEvaluationContext,
    landing: LandingZone,
    kind: str,
    suffixes: tuple[str, ...],
    admit: Admit,
    quiet_seconds: float,
) -> TickAnswers:
    answers = TickAnswers()
    for arrival in landing.arrivals(kind, suffixes, quiet_seconds=quiet_seconds):
        try:
            _answer(context, landing, arrival, admit, answers)
        except OSError as error:  # an unwritable landing folder, a full disk: kept, said
            answers.troubles.append(f"{arrival.name}: {error}")
            context.log.error(f"{kind}/{arrival.name} could not be answered: {error}")
        except Exception as error:  # a file no check foresaw must not stop the others
            try:
                _reject(context, landing, arrival.path, [_unforeseen(error)], answers)
            except OSError as cannot:
                answers.troubles.append(f"{arrival.name}: {cannot}")
    return answers


def _answer(context, landing: LandingZone, arrival, admit: Admit, answers: TickAnswers) -> None:
    if arrival.status == "waiting":
        answers.waiting.append(f"{arrival.name} ({arrival.reason})")
        return
    if arrival.status == "refused":
        _reject(context, landing, arrival.path, [arrival.problem], answers)
        return
    identity = arrival.identify()
    if identity is None:
        return  # another reader (the command line, another tick) took it since the listing
    fingerprint, content_id = identity
    arrival_id = arrival_key(arrival.name, content_id)
    runs = context.instance.get_runs(filters=dg.RunsFilter(tags={ARRIVAL_TAG: arrival_id}))
    if any(not run.is_finished or run.is_complete_and_waiting_to_retry for run in runs):
        answers.in_flight += 1  # its run is queued, going or to be retried: it takes the file
        return
    if any(run.status == dg.DagsterRunStatus.SUCCESS for run in runs):
        # A copy put back with the same bytes and time as one already built (cp -p).
        landing.archive(arrival.path)
        context.log.info(f"archived {arrival.name}: this arrival was already built")
        return
    if runs:
        _reject(context, landing, arrival.path, [_gave_up(runs[0])], answers)
        return
    try:
        admission = admit(arrival.path, fingerprint, arrival_id)
    except ProblemsError as error:
        _reject(context, landing, arrival.path, error.problems, answers)
        return
    answers.runs.append(admission.run_request)
    if admission.partition_key:
        answers.partitions.append(admission.partition_key)


def _reject(context, landing: LandingZone, path: Path, problems: list, answers) -> None:
    moved = landing.reject(path, {"problems": problems})
    answers.rejected.append(moved.name)
    context.log.warning(f"rejected {path.name}: " + "; ".join(p["problem"] for p in problems))


def _unforeseen(error: Exception) -> dict[str, str]:
    # Only the type: the message of an unforeseen error may quote the file's content.
    return {
        "field": "<document>",
        "problem": f"reading it failed with {type(error).__name__}, which no check foresaw",
        "fix": "check the file against the README's format; if it looks right, report this "
        "with the file to the pipeline's maintainers",
    }


def _gave_up(run: dg.DagsterRun) -> dict[str, str]:
    return {
        "field": "<run>",
        "problem": f"run {run.run_id} for this file ended {run.status.value} before it took "
        "the file",
        "fix": RESEND_FIX,
    }
