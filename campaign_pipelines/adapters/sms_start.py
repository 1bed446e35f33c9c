"""The schedule's other half of an SMS run (adapters/sms_runner.py sends): each campaign's
lifecycle step at ``now`` (core lifecycle.runner_command): campaigns whose end_at passed end
(Completed, unsent rows ``expired``), due Scheduled ones start with their prospects queued,
Active ones with every row final complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms import lifecycle
from campaign_pipelines.core.sms.ledger import all_final
from campaign_pipelines.core.sms.lifecycle import Command, Status


@dataclass(frozen=True)
class Prospects:
    """A campaign's recipients as the defs layer resolved them: phone_e164, first_name,
    idempotency_key (core ledger.with_idempotency_keys), and the numbers left out."""

    rows: pl.DataFrame
    invalid: int = 0
    duplicate: int = 0


@dataclass(frozen=True)
class Started:
    """What ``start_due_campaigns`` did (or, dry, would do): campaign name → runner command,
    and the campaigns that could not start (their prospects refused: name → problems)."""

    commands: dict[str, str] = field(default_factory=dict)
    refused: dict[str, list[dict]] = field(default_factory=dict)


def start_due_campaigns(store: SmsStore, now: datetime,
                        prospects_for: Callable[[dict], Prospects], *,
                        only: str | None = None, dry_run: bool = False,
                        log: Callable[[str], None] = print) -> Started:
    """Each non-final campaign's runner command at ``now`` applied (core
    lifecycle.runner_command): ``end``, ``start`` (with its prospects queued, in the same
    transaction) or ``complete``; ``only``: that campaign alone. A campaign whose prospects
    cannot be had (``prospects_for`` raises ProblemsError: an upload with no phone column, a
    code with no target rows) stays Scheduled and is reported in ``refused``; the others go
    on. A dry run resolves the prospects (reads only) and changes nothing."""
    started = Started()
    for campaign in store.campaigns().to_dicts():
        name = campaign["name"]
        if Status(campaign["status"]) in lifecycle.FINAL or only not in (None, name):
            continue
        states = store.states(name) if campaign["status"] == Status.ACTIVE else {}
        command = lifecycle.runner_command(
            campaign["status"], campaign["start_at"], campaign["end_at"], now,
            all_rows_final=all_final(states))
        if command is None:
            continue
        if command == Command.START:
            try:
                found = prospects_for(campaign)
            except ProblemsError as error:
                started.refused[name] = error.problems
                log(f"sms {name} cannot start: {masked(str(error))}")
                continue
            started.commands[name] = command.value
            if dry_run:
                continue
            queued = store.start(name, found.rows, now, invalid=found.invalid,
                                 duplicate=found.duplicate)
            log(f"sms {name}: started, {queued.queued:,} queued "
                f"({found.invalid:,} invalid, {found.duplicate:,} duplicate numbers left out)")
            continue
        started.commands[name] = command.value
        if dry_run:
            continue
        store.apply_command(name, command, now)
        store.write_counters(name, now)
        log(f"sms {name}: {command.value} → Completed")
    return started
