"""The handlers of ``sms_pause``, ``sms_resume`` and ``sms_cancel`` (core/commands.py) for
``apply_commands`` (jobs.py): each applies its lifecycle command through the SMS store
(``SmsStore.apply_command``: the status read and changed in one transaction, under
core/sms/lifecycle.py's rules), so a running send sees a pause or cancel at its next status
check, within 10 messages.

Answers (answers.py's ``Applied``):
- the status changed: ``paused``, ``resumed`` or ``cancelled``, the message saying from what;
- the campaign already has the status asked for (a command delivered twice): ``already_paused``,
  ``already_active``, ``already_cancelled``, no error (the lifecycle makes these no-ops);
- refused, its file to ``rejected/`` with the problem and fix: a campaign nobody knows (field
  ``campaign``), a command its status does not allow (field ``command``: pause a Scheduled
  campaign, resume a Completed one), or a warehouse that is not the embedded DuckDB one (SMS
  state lives there in this version). A refusal answers that one file; the next command
  still applies. Transient warehouse errors go up to the step's retry as for a delete.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.commands import SMS_COMMAND_MODELS, SmsCommand
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.lifecycle import Command, Status, TransitionError
from campaign_pipelines.defs.commands.answers import Applied, Resources
from campaign_pipelines.defs.failures import warehouse_work

_DONE = {Command.PAUSE: "paused", Command.RESUME: "resumed", Command.CANCEL: "cancelled"}


def apply_sms_command(command: SmsCommand, resources: Resources) -> Applied:
    """The command's lifecycle transition through the SMS store (module docstring)."""
    campaign = masked(command.campaign)
    warehouse = resources.warehouse.adapter()
    if not isinstance(warehouse, DuckDBWarehouse):
        problem = {"field": "command", "problem": "SMS campaigns live in the embedded DuckDB "
                   "warehouse in this version", "fix": "run with CAMPAIGN_WAREHOUSE=duckdb"}
        return Applied("refused", campaign, problem["problem"], [problem])
    store = SmsStore(warehouse)
    action = command.lifecycle

    def apply() -> tuple[Status, Status] | ProblemsError:
        try:
            return store.apply_command(command.campaign, action, datetime.now(UTC))
        except ProblemsError as refused:  # the store's word, not a warehouse failure
            return refused

    outcome = warehouse_work("campaign_ops.sms_campaigns", apply)
    if isinstance(outcome, ProblemsError):
        field = "command" if isinstance(outcome, TransitionError) else "campaign"
        problems = [{**problem, "field": field} for problem in outcome.problems]
        return Applied("refused", campaign, masked(problems[0]["problem"]), problems)
    before, after = outcome
    if before == after:
        return Applied(f"already_{after.value.lower()}", campaign,
                       f"{action.value}: the campaign is {after.value} already; nothing changed",
                       details={"status": after.value})
    return Applied(_DONE[action], campaign, f"{before.value} → {after.value}",
                   details={"status": after.value})


# For jobs.py's HANDLERS: every SMS command name of core/commands.py.
SMS_HANDLERS = {name: apply_sms_command for model in SMS_COMMAND_MODELS
                for name in get_args(model.model_fields["command"].annotation)}
