"""One tick's admitted files as ONE run: the landing sensors that batch (signups and
unsubscribes, commands) build on this, over the admission contract of defs/arrivals.py
(``answer_arrivals``, README "Admission"), which answers waiting, refused and already-built
arrivals as for every landing sensor.

A run can hold only one ``landing/arrival`` tag, so a batch run carries one tag per file,
``file_tag(arrival)`` = ``landing/arrival.<sha256(arrival)[:20]>``, and the admit function
``admit_by_file_tag`` builds looks an arrival up by that tag itself (``earlier_runs``): a run
still queued, going or to be retried holds the file back (in flight), a successful run gets a
copy put back archived, a run that gave up gets the file rejected naming the run. A new file is
then the caller's to check: its ``check`` raises ``ProblemsError`` to refuse it.

``take_batch`` turns the tick's answers into the files of one run: in-flight files are
counted, built ones archived, a new one waits when the caller gives a reason to hold (commands:
an earlier run is still applying), and at most ``MAX_FILES`` are taken, oldest first (each
folder's arrivals come oldest first); the rest wait for the next tick. ``batch_request`` is that
run: its key is a name and the hash of the sorted arrivals, so evaluating a tick again requests
nothing new; its tags are the files' tags, Dagster's run retries (defs/retries.py) and the
count of files. ``campaigns run-pending`` runs it in process with the file tags only
(``file_tags``), so a sensor tick after it finds the files built.

The run's step reads each file again with ``admitted`` (or ``admitted_bytes`` for one): a file
gone (taken by an earlier attempt or run) or changed since admission (a new arrival, the
sensor's to answer) is left out, saying so in the step's log.
"""

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import dagster as dg

from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.adapters.storage import storage_path
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.defs.arrivals import Admission, Admit, TickAnswers, earlier_runs, gave_up
from campaign_pipelines.defs.retries import RETRY_TAGS

FILE_TAG_PREFIX = "landing/arrival."
MAX_FILES = 200  # per run; the rest wait for the next tick
# An admitted file's answer (new | in_flight | built), on the request take_batch replaces.
STATE_TAG = "landing/batch_admission"
ANSWERED = "already answered (see archive/ or rejected/)"


class AdmittedFile(Protocol):
    """A batch run's config entry for one file (its path and the admitted bytes' sha256)."""

    path: str
    fingerprint: str


F = TypeVar("F", bound=AdmittedFile)


class ArrivedFile(dg.Config):
    """The AdmittedFile every batch run's config lists (``batch_request``'s files)."""

    path: str
    fingerprint: str  # sha256 of the bytes admitted
    arrival: str  # the landing/arrival id


def file_tag(arrival_id: str) -> str:
    """The tag that names one arrival on the batch run that takes it."""
    return FILE_TAG_PREFIX + hashlib.sha256(arrival_id.encode()).hexdigest()[:20]


def file_tags(tags: dict[str, str]) -> dict[str, str]:
    """The file tags among a run request's tags (what a run started by hand carries)."""
    return {key: value for key, value in tags.items() if key.startswith(FILE_TAG_PREFIX)}


def admit_by_file_tag(instance: dg.DagsterInstance, check: Callable[[Path], None],
                      **extra: str) -> Admit:
    """The admit function of a batching sensor: an arrival whose batch run is going waits, one
    built is archived, one whose run gave up is refused naming it, a new one is admitted unless
    ``check(path)`` raises ``ProblemsError``; ``extra`` tags (a kind) go with a new file."""

    def admit(path: Path, fingerprint: str, arrival_id: str) -> Admission:
        earlier, run = earlier_runs(instance, {file_tag(arrival_id): "1"})
        if earlier == "in_flight":
            return _marked("in_flight")
        if earlier == "built":
            return _marked("built", path=str(path))
        if run is not None:
            raise ProblemsError([gave_up(run)])
        check(path)
        return _marked("new", **extra, path=str(path), fingerprint=fingerprint,
                       arrival=arrival_id)

    return admit


def _marked(state: str, **file: str) -> Admission:
    return Admission(dg.RunRequest(tags={STATE_TAG: state, **file}))


def take_batch(answers: TickAnswers, landing: LandingZone,
               hold: Callable[[], str | None] | None = None) -> list[dict[str, str]]:
    """The tick's new files for one run, oldest first (answer order), each its tags: ``path``,
    ``fingerprint``, ``arrival`` and the admit function's ``extra``; ``answers`` then names
    only them and holds no run yet.
    ``hold``, asked once if a new file is met, gives the reason new files wait, if any."""
    files: list[dict[str, str]] = []
    requested: list[str] = []
    held = functools.cache(hold or (lambda: None))
    for request, name in zip(answers.runs, answers.requested, strict=True):
        state = request.tags[STATE_TAG]
        if state == "in_flight":
            answers.in_flight += 1
        elif state == "built":
            landing.archive(storage_path(request.tags["path"]))
            answers.archived.append(name)
        elif (reason := held()) is not None:
            answers.waiting.append(f"{name} ({reason})")
        elif len(files) >= MAX_FILES:
            answers.waiting.append(f"{name} (the run's {MAX_FILES} files are taken: next tick)")
        else:
            files.append({k: v for k, v in request.tags.items() if k != STATE_TAG})
            requested.append(name)
    answers.requested, answers.runs = requested, []
    return files


def batch_request(name: str, files: list[dict[str, str]], run_config: dict,
                  count_tag: str) -> dg.RunRequest:
    """The one run of a batch (module docstring); ``count_tag`` carries how many files."""
    arrivals = sorted(f["arrival"] for f in files)
    return dg.RunRequest(
        run_key=f"{name}@" + hashlib.sha256("|".join(arrivals).encode()).hexdigest()[:32],
        run_config=run_config,
        tags={**{file_tag(a): "1" for a in arrivals}, **RETRY_TAGS, count_tag: str(len(files))})


def admitted_bytes(path: Path, fingerprint: str, log: dg.DagsterLogManager,
                   gone: str = ANSWERED) -> bytes | None:
    """The file's bytes if it still holds the admitted ones; None, said with ``gone`` when
    the file is gone, when it is gone or changed (module docstring)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.info(f"{masked(path.name)}: {gone}")
        return None
    if hashlib.sha256(data).hexdigest() != fingerprint:
        log.warning(f"{masked(path.name)} changed since admission: left for the sensor "
                    "to answer as a new arrival")
        return None
    return data


def admitted(files: list[F], log: dg.DagsterLogManager,
             gone: str = ANSWERED) -> list[tuple[F, bytes]]:
    """The files still holding the admitted bytes, with those bytes (``admitted_bytes``)."""
    return [(file, data) for file in files if (data := admitted_bytes(
        storage_path(file.path), file.fingerprint, log, gone)) is not None]
