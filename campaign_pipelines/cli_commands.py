"""What ``campaigns run-pending`` does for landing/commands: the sensor's answer, here and now.

``apply_pending`` evaluates ``command_arrivals_sensor``'s own tick (``command_answers``, over
the location's instance), so a file is refused, waits or is admitted exactly as the sensor
would have it, then runs the one ``apply_commands_job`` run it asks for in this process and
prints each command's outcome. A file modified in the last ``landing_quiet_s`` seconds is
waited for once, as for requests. ``--dry-run`` applies and moves nothing: it counts the files.
"""

from __future__ import annotations

import time

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def apply_pending(location, dry_run: bool = False) -> int:
    import dagster as dg

    from campaign_pipelines.adapters.landing_arrivals import is_temp_name
    from campaign_pipelines.defs.commands.sensors import KIND, SUFFIXES, command_answers

    data = location.campaign_data
    landing, quiet = data.landing(), data.landing_quiet_s
    fresh = [a for a in landing.arrivals(KIND, SUFFIXES, quiet_seconds=quiet)
             if a.status == "waiting" and not is_temp_name(a.name)]
    if fresh and not dry_run:
        wait = max(a.mtime_ns for a in fresh) / 1e9 + quiet - time.time()
        time.sleep(min(max(wait, 0), quiet) + 0.05)
    listed = landing.arrivals(KIND, SUFFIXES, quiet_seconds=quiet)
    if not listed:
        print("no pending command in landing/commands")
        return EXIT_OK
    if dry_run:
        print(f"== commands: {len(listed)} file(s) in landing/commands (dry run: none applied)")
        return EXIT_OK
    with dg.build_sensor_context(instance=location.instance) as context:
        answers = command_answers(context, data)
    for refusal in answers.rejected:
        print(f"== commands/{refusal.said()}: refused")
    for said in answers.waiting + [f"{n}: archived (already applied)" for n in answers.archived]:
        print(f"== commands/{said}")
    if answers.in_flight:
        print(f"== commands: {answers.in_flight} file(s) wait for the sensor's run to take them")
    worst = EXIT_BAD_INPUT if answers.rejected else EXIT_OK
    if answers.troubles:
        print("== commands: could not answer " + "; ".join(answers.troubles))
        worst = EXIT_RUN_FAILED
    return max([worst, *(_run(location, request) for request in answers.runs)])


def _run(location, request) -> int:
    from campaign_pipelines.defs.commands.jobs import OP_NAME
    from campaign_pipelines.defs.sequences.sensors import FILE_TAG_PREFIX
    from campaign_pipelines.responses import failure_messages
    from campaign_pipelines.service import run_job

    # The files' tags only: Dagster's run retries are the daemon's, for the sensor's runs.
    tags = {k: v for k, v in request.tags.items() if k.startswith(FILE_TAG_PREFIX)}
    result = run_job(location, "apply_commands_job", tags=tags, run_config=request.run_config)
    reports = []
    for event in result.all_events:
        if event.is_successful_output and event.step_key == OP_NAME:
            reports = event.event_specific_data.metadata["commands"].value
    print(f"== commands: {len(reports)} applied or refused: "
          f"{'ok' if result.success else 'FAILED'} (run {result.run_id})")
    for report in reports:
        print(f"   {report['file']}: {report['outcome']}: {report['message']}")
    for message in ([] if result.success else failure_messages(result)):
        print(f"   - {message}")
    if not result.success:
        return EXIT_RUN_FAILED
    return EXIT_BAD_INPUT if any(r["outcome"] == "refused" for r in reports) else EXIT_OK
