"""What ``campaigns run-pending`` does for a folder a batching sensor watches (landing/commands;
landing/signups and landing/unsubscribes): that sensor's own tick, here and now.

``run_pending`` waits once for the files modified in the last ``landing_quiet_s`` seconds
(``service.wait_for_fresh``, as for requests), then evaluates the sensor's tick over the
location's instance (``dg.build_sensor_context``), so a file is refused, waits, is archived or
admitted exactly as the sensor would have it, and prints every answer. The run the tick asks
for (defs/batched_arrivals.py) runs in this process with the file tags only: Dagster's run
retries are the daemon's, for the sensor's runs. ``--dry-run`` moves and runs nothing: it
counts the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

    from campaign_pipelines.defs.arrivals import TickAnswers

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@dataclass(frozen=True)
class Pending:
    """A batching sensor's folders as the command line answers them."""

    label: str  # how its lines begin: "== <label>: ..."
    noun: str  # what its files hold, as "no pending <noun> in landing/..." says
    folders: tuple[str, ...]  # under landing/
    suffixes: tuple[str, ...]
    job: str  # the job its tick requests
    archived: str  # why a file put back again is archived: "already applied"


def run_pending(location, pending: Pending,
                tick: Callable[[dg.SensorEvaluationContext], TickAnswers],
                report: Callable[[dg.RunRequest, dg.JobExecutionResult], int],
                dry_run: bool = False) -> int:
    """The exit code: 2 when a file was refused, 1 when a run failed or a file could not be
    answered; ``report`` prints a run's outcome (its request, its result) and gives its code."""
    import dagster as dg

    from campaign_pipelines.core.problems import ProblemsError
    from campaign_pipelines.defs.batched_arrivals import file_tags
    from campaign_pipelines.runs import say_on_stderr
    from campaign_pipelines.service import run_job, wait_for_fresh

    data, label = location.campaign_data, pending.label
    landing, quiet = data.landing(), data.landing_quiet_s
    where = ", ".join(f"landing/{folder}" for folder in pending.folders)

    def listed() -> list:
        return [arrival for folder in pending.folders
                for arrival in landing.arrivals(folder, pending.suffixes, quiet_seconds=quiet)]

    if not dry_run:
        wait_for_fresh(listed(), quiet, say_on_stderr)
    files = listed()
    if not files:
        print(f"no pending {pending.noun} in {where}")
        return EXIT_OK
    if dry_run:
        print(f"== {label}: {len(files)} file(s) in {where} (dry run: none applied)")
        return EXIT_OK
    try:
        with dg.build_sensor_context(instance=location.instance) as context:
            answers = tick(context)
    except ProblemsError as error:  # the files wait, as the sensor leaves them
        print(f"== {label}: every file left waiting: {error}")
        return EXIT_BAD_INPUT
    _print_answers(label, answers, pending.archived)
    worst = EXIT_BAD_INPUT if answers.rejected else EXIT_OK
    if answers.troubles:
        worst = EXIT_RUN_FAILED
    for request in answers.runs:
        result = run_job(location, pending.job, tags=file_tags(request.tags),
                         run_config=request.run_config)
        worst = max(worst, report(request, result))
    return worst


def _print_answers(label: str, answers: TickAnswers, archived: str) -> None:
    for refusal in answers.rejected:
        print(f"== {label}: {refusal.said()}: refused")
    for said in answers.waiting:
        print(f"== {label}: {said}: waiting")
    for name in answers.archived:
        print(f"== {label}: {name}: archived ({archived})")
    if answers.in_flight:
        print(f"== {label}: {answers.in_flight} file(s) wait for the sensor's run to take them")
    if answers.troubles:
        print(f"== {label}: could not answer " + "; ".join(answers.troubles))
