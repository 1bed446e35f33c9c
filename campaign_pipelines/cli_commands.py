"""What ``campaigns run-pending`` does for landing/commands: ``command_arrivals_sensor``'s own
tick (``command_answers``), here and now, through cli_pending.py, then each command's outcome.
"""

from __future__ import annotations

from campaign_pipelines.cli_pending import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, Pending


def apply_pending(location, dry_run: bool = False) -> int:
    from campaign_pipelines.cli_pending import run_pending
    from campaign_pipelines.defs.commands.sensors import KIND, SUFFIXES, command_answers

    pending = Pending("commands", "command", (KIND,), SUFFIXES, "apply_commands_job",
                      archived="already applied")
    return run_pending(location, pending,
                       lambda context: command_answers(context, location.campaign_data),
                       _report, dry_run)


def _report(request, result) -> int:
    from campaign_pipelines.defs.commands.jobs import OP_NAME
    from campaign_pipelines.responses import failure_messages

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
