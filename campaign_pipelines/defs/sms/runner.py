"""The SMS runner: ``sms/sends`` starts what is due and sends what is queued (metrics.py
reports the counters it leaves).

``sms/sends`` is one step: adapters/sms_start.start_due_campaigns (end what has ended,
start what is due with its prospects queued, complete what is done), then run_campaign for
each Active campaign, with the provider, sending hours, STOP hint, segment limit and receipt
URL of the ``sms`` resource. Its metadata says, per campaign, what was sent, failed,
suppressed and left queued, and why the run stopped.

Prospects are resolved (adapters/sms_prospects.py) before anything starts, one campaign at a
time: a campaign whose prospects cannot be had (an upload with no phone column, a campaign
code with no target rows) stays Scheduled and is left out, the others start and send, and
then the step fails naming it and the fix. It fails so every minute until the list is fixed
(the next run starts it) or the campaign is cancelled (``campaigns sms cancel NAME``): a
campaign that cannot start must be seen, not wait in silence.

Pool: the step does NOT take the ``warehouse`` pool, for the e-mail sender's reason (README
"Warehouses"): a run sends for minutes (throttled, or until the sending window closes) and
holds no connection while it does; it writes one short transaction per group of 10 messages
(adapters/sms_store.py), which meets a deploy only at the DuckDB file lock, waited for like
any other. Holding the pool's one slot would stop every deploy for the length of a campaign.
Two runner runs never overlap from the schedule (schedules.py); if they do (a CLI run beside
it), the store's claims keep each message to one runner.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.sms_prospects import ProspectSource, Resolved
from campaign_pipelines.adapters.sms_run import RunReport
from campaign_pipelines.adapters.sms_runner import run_campaign
from campaign_pipelines.adapters.sms_start import Prospects, start_due_campaigns
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.core.sms.lifecycle import Status
from campaign_pipelines.defs.failures import fail, warehouse_work
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource, sms_store
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY
from campaign_pipelines.defs.sms.assets import CAMPAIGNS_KEY, GROUP
from campaign_pipelines.defs.sms.resources import SmsResource

SENDS_KEY = dg.AssetKey([GROUP, "sends"])
LEDGER = "campaign_ops.sms_ledger"


class SmsRunConfig(dg.Config):
    campaign: str = ""  # only this campaign (starts and sends); "": every one
    dry_run: bool = False  # render and count; change nothing, send nothing
    limit: int = 0  # at most this many messages in this run, in all; 0: no limit
    now: str = ""  # ISO time to run as of (default: the run's start); runs the clock forward


def parse_as_of(text: str) -> datetime:
    """``text`` as a time with its offset; ValueError saying how to write it (the step's
    ``now`` and ``campaigns sms run --now``)."""
    try:
        now = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO time: write it like "
                         "2026-12-01T09:07:00+05:00") from None
    if now.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: write it like 2026-12-01T09:07:00+05:00")
    return now


def run_as_of(text: str) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        return parse_as_of(text)
    except ValueError as error:
        raise fail(f"now={error}") from None


def prospect_source(warehouse: WarehouseResource,
                    campaign_data: CampaignDataResource) -> ProspectSource:
    return ProspectSource(campaign_data.uploads_dir(), warehouse.adapter(),
                          warehouse.reference_config())


def _start(context, config: SmsRunConfig, store: SmsStore, source: ProspectSource,
           now: datetime) -> tuple[dict[str, str], dict[str, Resolved], dict[str, list]]:
    """Due campaigns started (or, dry, planned): commands, resolved prospects, refusals."""
    resolved: dict[str, Resolved] = {}

    def prospects_for(campaign: dict) -> Prospects:
        resolved[campaign["name"]] = source.resolve(campaign)
        return resolved[campaign["name"]].prospects

    started = start_due_campaigns(store, now, prospects_for, only=config.campaign or None,
                                  dry_run=config.dry_run, log=context.log.info)
    return started.commands, resolved, started.refused


def _send(context, config: SmsRunConfig, store: SmsStore, sms: SmsResource,
          now: datetime) -> list[RunReport]:
    active = store.campaigns().filter(pl.col("status") == Status.ACTIVE.value)
    if config.campaign:
        active = active.filter(pl.col("name") == config.campaign)
    provider, hours, reports = sms.provider(), sms.quiet_hours(), []
    left = config.limit or None
    try:
        for name in active.get_column("name").to_list():
            if left is not None and left <= 0:
                break
            report = run_campaign(
                store, provider, name, now=now, limit=left, dry_run=config.dry_run,
                quiet_hours=hours, stop_hint=sms.stop_hint, max_segments=sms.max_segments,
                status_callback=sms.status_callback(), log=context.log.info)
            reports.append(report)
            if left is not None:
                left -= report.attempted
    finally:
        getattr(provider, "close", lambda: None)()
    return reports


@dg.asset(key=SENDS_KEY, deps=[CAMPAIGNS_KEY], group_name=GROUP, kinds={"duckdb", "sms"},
          retry_policy=WAREHOUSE_RETRY)
def sends(context: dg.AssetExecutionContext, config: SmsRunConfig,
          warehouse: WarehouseResource, campaign_data: CampaignDataResource,
          sms: SmsResource) -> dg.MaterializeResult:
    """Starts the due SMS campaigns (their prospects queued in campaign_ops.sms_ledger once)
    and sends every Active one's queued messages (module docstring)."""
    now = run_as_of(config.now)
    store = sms_store(warehouse)
    if config.campaign and warehouse_work(LEDGER, lambda: store.campaign(config.campaign)) is None:
        raise fail(f"no SMS campaign {config.campaign!r}: check the name with "
                   "`campaigns sms list`")
    commands, resolved, refused = warehouse_work(LEDGER, lambda: _start(
        context, config, store, prospect_source(warehouse, campaign_data), now))
    reports = warehouse_work(LEDGER, lambda: _send(context, config, store, sms, now))
    metadata = {
        "now": now.isoformat(), "dry_run": config.dry_run, "provider": sms.kind,
        "commands": dg.MetadataValue.json(commands),
        "prospects": dg.MetadataValue.json({name: {"source": r.source, **r.counts,
                                                   "problems": r.problems[:5]}
                                            for name, r in resolved.items()}),
        "campaigns": dg.MetadataValue.json([r.as_metadata() for r in reports]),
        **{f"{field}": sum(getattr(r, field) for r in reports)
           for field in ("sent", "failed", "suppressed", "left_queued", "would_send")},
    }
    if refused:
        names = ", ".join(sorted(refused))
        problems = [{**p, "campaign": name} for name, found in refused.items() for p in found]
        raise dg.Failure(
            description=f"SMS campaign(s) {names} cannot start and stay Scheduled: "
            + "; ".join(f"{p['campaign']}: {p['problem']} (fix: {p['fix']})"
                        for p in problems[:5]),
            metadata={**metadata, "problems": dg.MetadataValue.json(problems[:20])},
            allow_retries=False)
    return dg.MaterializeResult(metadata=metadata)
