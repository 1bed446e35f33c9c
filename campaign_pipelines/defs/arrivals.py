"""One sensor tick over a landing folder: every arrival gets an answer (adapters/admission.py).

A sensor built on ``answer_arrivals`` only reads, validates and requests runs:
- a file still being written (or a writer's temp file) waits, and the skip reason says so;
- a refused entry (unknown extension, a directory, a symlink, a request that cannot run) moves
  to ``rejected/`` with its ``.error.json``;
- an admitted file gets exactly one run per arrival: the run key and the ``landing/arrival``
  tag name the arrival (its name, content hash and modification time), so evaluating the same
  tick twice requests nothing new; the run's first step takes the file into ``archive/``. On
  an object store (``CAMPAIGN_DATA_URL``), where several processes may evaluate at once, the
  evaluation must also win the arrival's claim object (``LandingZone.claim``); the other one
  counts the file as in flight;
- a file whose run ended without taking it (failed before its first step, canceled) is
  rejected naming that run, unless Dagster's run retries will run it again;
- a landing folder the sensor cannot write to, or a full disk, fails that one file with a
  clear message; the rest of the tick goes on.

What a tick tells the sensor page in the UI:
- A tick that requests no run says why in its skip reason: each refused file, its error file
  and its first problem (``refused 2 files, no run: bad.json →
  landing/campaigns/rejected/bad.json.error.json (filter_config.mau_onyl: Extra inputs are not
  permitted); …``), the files that wait and why, the admitted files whose runs have not taken
  them yet, or ``no new file in landing/campaigns``. At most three of each are named, then
  ``and N more``; digit runs as long as an IIN or a phone number, and e-mail addresses, are
  masked (file names too), so a skip reason never shows one whole.
- The cursor is a report, never state: admission reads no cursor (an arrival's run is found by
  its ``landing/arrival`` tag), so clearing or editing it in the UI changes only the report.
  It is one JSON object::

    {"last_tick": {"requested": 0, "rejected": 2, "waiting": 1, "in_flight": 0},
     "last_requested": {"file": "promo.json", "at": "2026-11-30T01:20:05Z"},
     "last_rejected": {"file": "bad.json", "problem": "…", "error_file":
                       "landing/campaigns/rejected/bad.json.error.json", "at": "…"}}

  ``last_tick`` counts what the latest tick did (runs requested, files rejected and waiting,
  admitted files not yet taken by their runs); ``last_requested`` and ``last_rejected`` (UTC)
  outlive quiet ticks and are absent until a file was. A tick with runs has no skip reason, so
  its rejections show here and in its log. The first format, ``requested=1 rejected=0
  waiting=0 in_flight=0`` (the last tick's counts only), still parses, as ``last_tick``; a
  cursor that is neither (typed in the UI) starts a new report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.landing import ERROR_SUFFIX, LandingZone
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError

ARRIVAL_TAG = "landing/arrival"
# What to do with a file whose run failed: every sensor that rejects one after its run says it.
RESEND_FIX = (
    "read that run's error in the Dagster UI, fix the cause, and copy the file into the landing "
    "folder again (a copy is a new arrival; a move keeps its old time)"
)
LISTED = 3  # files named per kind of answer in a skip reason; the rest are counted
PROBLEM_CHARS = 100
TICK_COUNTS = ("requested", "rejected", "waiting", "in_flight")
_FIRST_CURSOR = re.compile(r"requested=(\d+) rejected=(\d+) waiting=(\d+) in_flight=(\d+)")


def arrival_key(name: str, content_id: str) -> str:
    """The ``landing/arrival`` tag: the name too, as two copies of one file (cp -p, an unzip)
    are two arrivals; ``content_id`` is ``Arrival.identify``'s hash and modification time."""
    return f"{name}@{content_id}"


def read_cursor(cursor: str | None) -> dict:
    """The report a sensor's cursor holds (module docstring); a first-format cursor becomes its
    ``last_tick``; none, or one that is neither, an empty report."""
    first = _FIRST_CURSOR.fullmatch((cursor or "").strip())
    if first:
        return {"last_tick": dict(zip(TICK_COUNTS, map(int, first.groups()), strict=True))}
    try:
        report = json.loads(cursor or "{}")
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


@dataclass(frozen=True)
class Admission:
    """What a sensor's admit function returns for one admitted file."""

    run_request: dg.RunRequest
    partition_key: str | None = None


# admit(path, fingerprint, arrival_id) -> Admission, or ProblemsError when refused
Admit = Callable[[Path, str, str], Admission]


@dataclass(frozen=True)
class Refusal:
    """A file this tick moved to rejected/: its name as it arrived, its error file as the UI
    reader finds it (``landing/<kind>/rejected/...``) and its first problem, in short."""

    name: str
    error_file: str
    problem: str

    def said(self) -> str:
        return f"{self.name} → {self.error_file} ({self.problem})"


@dataclass
class TickAnswers:
    folder: str  # landing/<kind>: where the skip reason says nothing new arrived
    report: dict = field(default_factory=dict)  # the cursor's report before this tick
    runs: list[dg.RunRequest] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)  # the files of ``runs``
    partitions: list[str] = field(default_factory=list)
    rejected: list[Refusal] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    in_flight: int = 0
    troubles: list[str] = field(default_factory=list)

    @classmethod
    def begin(cls, context: dg.SensorEvaluationContext, landing: LandingZone,
              kind: str) -> TickAnswers:
        return cls(folder=f"{landing.root.name}/{kind}", report=read_cursor(context.cursor))

    def absorb(self, other: TickAnswers) -> None:
        """Adds ``other``'s answers (another folder's, the same tick) to these: every list,
        so a field added later is never dropped, and the files in flight."""
        for each in fields(self):
            mine = getattr(self, each.name)
            if isinstance(mine, list):
                mine.extend(getattr(other, each.name))
        self.in_flight += other.in_flight

    def sensor_result(
        self, partitions_def: dg.DynamicPartitionsDefinition | None = None
    ) -> dg.SensorResult:
        partitions = sorted(set(self.partitions))  # two files, one key: add it once
        requests = (
            [partitions_def.build_add_request(partitions)] if partitions_def and partitions else []
        )
        if self.runs:
            return dg.SensorResult(
                run_requests=self.runs, dynamic_partitions_requests=requests, cursor=self.cursor()
            )
        return dg.SensorResult(skip_reason=self.skip_reason(), cursor=self.cursor())

    def skip_reason(self) -> str:
        said = []
        if self.rejected:
            files = "file" if len(self.rejected) == 1 else "files"
            said.append(f"refused {len(self.rejected)} {files}, no run: "
                        + _listed([refusal.said() for refusal in self.rejected]))
        if self.waiting:
            said.append("waiting for " + _listed(self.waiting))
        if self.in_flight:
            said.append(f"{self.in_flight} admitted file(s) wait for their runs to take them")
        if self.archived:
            said.append("archived, as already built: " + _listed(self.archived))
        if self.troubles:
            said.append("could not answer " + _listed(self.troubles))
        return masked("; ".join(said)) or f"no new file in {self.folder}"

    def cursor(self) -> str:
        """The report after this tick (module docstring), as the sensor page shows it."""
        counts = (len(self.runs), len(self.rejected), len(self.waiting), self.in_flight)
        report: dict = {"last_tick": dict(zip(TICK_COUNTS, counts, strict=True))}
        last = self.rejected[-1] if self.rejected else None
        latest = {
            "last_requested": {"file": self.requested[-1]} if self.requested else None,
            "last_rejected": last and {"file": last.name, "problem": last.problem,
                                       "error_file": last.error_file},
        }
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for key, now in latest.items():
            if now:
                report[key] = {name: masked(text) for name, text in now.items()} | {"at": at}
            elif isinstance(self.report.get(key), dict):
                report[key] = self.report[key]
        return json.dumps(report, ensure_ascii=False)


def answer_arrivals(
    context: dg.SensorEvaluationContext,
    landing: LandingZone,
    kind: str,
    suffixes: tuple[str, ...],
    admit: Admit,
    quiet_seconds: float,
) -> TickAnswers:
    answers = TickAnswers.begin(context, landing, kind)
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
    earlier, run = earlier_runs(context.instance, {ARRIVAL_TAG: arrival_id})
    if earlier == "in_flight":
        answers.in_flight += 1  # its run is queued, going or to be retried: it takes the file
        return
    if earlier == "built":
        # A copy put back with the same bytes and time as one already built (cp -p).
        landing.archive(arrival.path)
        answers.archived.append(arrival.name)
        context.log.info(f"archived {arrival.name}: this arrival was already built")
        return
    if run is not None:
        _reject(context, landing, arrival.path, [gave_up(run)], answers)
        return
    if not landing.claim(arrival.path.parent.name, arrival_id, "sensor"):
        answers.in_flight += 1  # another evaluation (object store) is requesting its run
        return
    try:
        admission = admit(arrival.path, fingerprint, arrival_id)
    except ProblemsError as error:
        _reject(context, landing, arrival.path, error.problems, answers)
        return
    answers.runs.append(admission.run_request)
    answers.requested.append(arrival.name)
    if admission.partition_key:
        answers.partitions.append(admission.partition_key)


def _reject(context, landing: LandingZone, path: Path, problems: list, answers) -> None:
    moved = landing.reject(path, {"problems": problems})
    error_file = moved.with_name(f"{moved.name}{ERROR_SUFFIX}")
    shown = f"{landing.root.name}/{error_file.relative_to(landing.root).as_posix()}"
    answers.rejected.append(Refusal(path.name, shown, _in_short(problems)))
    context.log.warning(f"rejected {path.name}: " + "; ".join(p["problem"] for p in problems))


def _in_short(problems: list[dict]) -> str:
    """The first problem, masked before it is cut, with its field when that names a part of
    the file (not ``file`` or ``<document>``: their problem names the file already)."""
    first = problems[0] if problems else {"problem": "no problem recorded"}
    name, text = first.get("field") or "", str(first.get("problem", ""))
    if name and name != "file" and not name.startswith("<"):
        text = f"{name}: {text}"
    text = masked(text)
    if len(text) > PROBLEM_CHARS:
        text = text[: PROBLEM_CHARS - 1] + "…"
    more = len(problems) - 1
    return text + (f"; {more} more in the error file" if more > 0 else "")


def _listed(items: list[str]) -> str:
    shown = "; ".join(items[:LISTED])
    return shown + (f"; and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _unforeseen(error: Exception) -> dict[str, str]:
    # Only the type: the message of an unforeseen error may quote the file's content.
    return {
        "field": "<document>",
        "problem": f"reading it failed with {type(error).__name__}, which no check foresaw",
        "fix": "check the file against the README's format; if it looks right, report this "
        "with the file to the pipeline's maintainers",
    }


def earlier_runs(
    instance: dg.DagsterInstance, tags: dict[str, str]
) -> tuple[str, dg.DagsterRun | None]:
    """What became of an arrival's runs (found by ``tags``): ``in_flight`` (queued, going or
    to be retried: the run takes the file), ``built``, ``gave_up`` with the run that ended
    without taking it, or ``new``. Every landing reader asks this before it admits."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
    if any(not run.is_finished or run.is_complete_and_waiting_to_retry for run in runs):
        return "in_flight", None
    if any(run.status == dg.DagsterRunStatus.SUCCESS for run in runs):
        return "built", None
    return ("gave_up", runs[0]) if runs else ("new", None)


def gave_up(run: dg.DagsterRun) -> dict[str, str]:
    """The problem of a file whose run ended before it took the file."""
    return {
        "field": "<run>",
        "problem": f"run {run.run_id} for this file ended {run.status.value} before it took "
        "the file",
        "fix": RESEND_FIX,
    }
