"""``apply_commands_job``: the admitted files of landing/commands, applied in arrival order.

One step, ``apply_commands``, reads each admitted file (one gone was taken by an earlier
attempt; one whose bytes changed is a new arrival and left for the sensor), parses it
(``core/commands.py``) and hands it to the handler ``HANDLERS`` names for its ``command``:
the one dispatch of the project's commands (``sms_pause``, ``sms_resume`` and ``sms_cancel``
in sms_handlers.py). After each command its file is answered at once:
- applied: taken into ``archive/`` (``LandingZone.take``, as every run takes its file);
- refused by its handler (a delete of a campaign nobody knows): moved to ``rejected/`` with its
  ``.error.json`` naming the field, the problem and the fix; the run goes on with the next.
So a retried step skips what an earlier attempt answered, and a handler must be idempotent for
the moment between its transaction and the file's move (a delete of a Deleted campaign is
``already_deleted``, no error). Any other error stops the step, leaving the later commands
unapplied (their order matters: a pause before a resume): transient warehouse errors are
retried by ``WAREHOUSE_RETRY``, permanent ones fail the run, and the sensor then rejects the
files it did not take, naming the run.

The step takes the ``warehouse`` pool, as the deployment steps do, so a delete never
interleaves with a deploy writing the same tables. The step's output metadata reports every
command (file, command, campaign, outcome, rows removed, message), masked: a campaign key may
be digits.
"""


import dagster as dg

from campaign_pipelines.adapters.campaign_deletion import delete_campaign
from campaign_pipelines.adapters.storage import storage_path
from campaign_pipelines.core.commands import DeleteCommand, parse_command
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.defs.batched_arrivals import ArrivedFile, admitted_bytes
from campaign_pipelines.defs.commands.answers import Applied, Handler, Resources
from campaign_pipelines.defs.commands.sms_handlers import SMS_HANDLERS
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY

OP_NAME = "apply_commands"


class CommandFiles(dg.Config):
    files: list[ArrivedFile] = []  # in arrival order, the order they are applied in


def apply_delete(command: DeleteCommand, resources: Resources) -> Applied:
    """``campaigns delete CODE``'s own function (adapters/campaign_deletion.py)."""
    deletion = warehouse_work("campaign_ops.campaign_registry", lambda: delete_campaign(
        resources.warehouse.deployment(), command.campaign_code))
    campaign = masked(deletion.campaign_code or command.campaign_code)
    if not deletion.found:
        problem = {"field": "campaign_code", "problem": deletion.message,
                   "fix": "check the code with `campaigns list --include-deleted` and send "
                          "the command again with one that exists"}
        return Applied("refused", campaign, deletion.message, [problem])
    return Applied(deletion.outcome, campaign, deletion.message,
                   details={"rows_removed": deletion.rows_removed})


# Every name of core/commands.COMMAND_NAMES has its handler (a test holds the two equal).
HANDLERS: dict[str, Handler] = {"delete": apply_delete, **SMS_HANDLERS}


@dg.op(name=OP_NAME, pool="warehouse", retry_policy=WAREHOUSE_RETRY, out=dg.Out(dg.Nothing))
def apply_commands(context: dg.OpExecutionContext, config: CommandFiles,
                   warehouse: WarehouseResource, campaign_data: CampaignDataResource):
    """Applies the admitted command files in arrival order and answers each (module
    docstring); its metadata reports every command."""
    resources = Resources(warehouse, campaign_data)
    reports = [report for file in config.files
               if (report := _apply_file(context, file, resources)) is not None]
    counts = {outcome: sum(r["outcome"] == outcome for r in reports)
              for outcome in sorted({r["outcome"] for r in reports})}
    return dg.Output(None, metadata={
        "files": len(reports), "outcomes": dg.MetadataValue.json(counts),
        "commands": dg.MetadataValue.json(reports)})


def _apply_file(context: dg.OpExecutionContext, file: ArrivedFile,
                resources: Resources) -> dict | None:
    path, landing = storage_path(file.path), resources.campaign_data.landing()
    data = admitted_bytes(path, file.fingerprint, context.log)
    if data is None:
        return None
    try:
        command = parse_command(data)
    except ProblemsError as error:  # admission read these bytes: only a changed parser gets here
        name, applied = "", Applied("refused", "", "the file holds no command", error.problems)
    else:
        name, applied = command.command, HANDLERS[command.command](command, resources)
    report = {"file": masked(path.name), "command": name, "campaign": applied.campaign,
              "outcome": applied.outcome, "message": applied.message, **applied.details}
    if applied.problems:
        moved = landing.reject(path, {"problems": applied.problems})
        report["error_file"] = masked(f"{moved.name}.error.json")
        context.log.warning(f"refused {report['file']}: {report['message']}")
    else:
        landing.take(path, file.fingerprint)
        context.log.info(f"{name} {applied.campaign}: {report['message']}")
    return report


@dg.job(name="apply_commands_job",
        description="Applies the admitted landing/commands files in arrival order (delete: a "
        "campaign's rows removed from the six tables, kept as Deleted); each file archived, or "
        "rejected with its .error.json when its command is refused.")
def apply_commands_job():
    apply_commands()
