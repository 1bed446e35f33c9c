"""Before a run sends: the campaign's ``sending`` rows left by runners that died (their
process is gone from this host, or their claim is older than LEASE) are adopted in one
transaction (``SmsStore.adopt``: of two runners adopting at once, each row goes to one) and
decided from the dead runner's journal (adapters/sms_journal.py):

- an outcome in the journal → that outcome (the provider answered; the ledger never heard);
- tried (a ``try`` line) without an outcome, or no journal at all → the provider's
  ``find_sent``: found → ``sent`` with its id, not found → ``queued``;
- the journal exists and never tried it → ``queued`` without asking: the run died before
  handing it over.

The decisions are recorded in one transaction; then the dead runners' journals are removed
(also those whose rows were all recorded before their runner died)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.sms_journal import Recovered, forget, read_journal
from campaign_pipelines.adapters.sms_run import Run, claimer_is_dead, frame, released, short
from campaign_pipelines.adapters.sms_store_sending import LEASE
from campaign_pipelines.core.sms.template import MessageError


def reconcile(run: Run) -> None:
    now = run.clock()

    def stale(claims: pl.DataFrame) -> pl.DataFrame:
        dead = {c for c in claims.get_column("claimed_by").unique().to_list()
                if claimer_is_dead(c)}
        return claims.filter(pl.col("claimed_by").is_in(list(dead))
                             | (pl.col("claimed_at") <= now - LEASE))

    folder = run.store.journal_folder
    adopted = run.store.adopt(run.name, stale, claimer=run.claimer, now=now)
    claimers = adopted.get_column("claimed_by").unique().to_list() if adopted.height else []
    journals = {claimer: read_journal(folder, run.name, claimer) for claimer in claimers}
    if adopted.height:
        outcomes = [_decide(run, row, journals[row["claimed_by"]]) for row in adopted.to_dicts()]
        run.store.step(run.name, frame(outcomes), claimer=run.claimer, claim=0, now=now)
        report = run.report
        run.log(f"sms {run.name}: reconciled {adopted.height} claims of a dead runner: "
                f"{report.reconciled_from_journal} from its journal, {report.reconciled_sent} "
                f"found sent ({report.reconciled_asked} asked), "
                f"{report.reconciled_requeued} queued again")
    for claimer in claimers:
        forget(folder, run.name, claimer)
    _forget_finished(folder / run.name)


def _decide(run: Run, row: dict, journal: Recovered) -> dict:
    report, key = run.report, row["idempotency_key"]
    outcome = released([row], None)[0]
    if key in journal.outcomes:
        report.reconciled_from_journal += 1
        return outcome | journal.outcomes[key]
    if journal.exists and key not in journal.tried:
        report.reconciled_requeued += 1
        return outcome
    try:
        report.reconciled_asked += 1
        found = run.provider.find_sent(run.message(row), since=row["claimed_at"])
    except MessageError as error:
        return outcome | {"state": "failed", "last_error": short(error)}
    if found is None:
        report.reconciled_requeued += 1
        return outcome
    report.reconciled_sent += 1
    return outcome | {"state": "sent", "provider_message_id": found.provider_message_id,
                      "sent_at": row["claimed_at"]}


def _forget_finished(folder: Path) -> None:
    """Journals of dead runners of this host with no row left to decide (they died between
    their last record and removing the file)."""
    for path in folder.glob("*.jsonl") if folder.is_dir() else ():
        try:
            with path.open("rb") as file:
                claimer = json.loads(file.readline()).get("claimer")
        except (OSError, ValueError, AttributeError):
            continue
        if claimer_is_dead(claimer):
            path.unlink(missing_ok=True)
