"""SMS admission: landing/sms campaign files → ``sms/campaigns`` (campaign_ops.sms_campaigns);
landing/sms_events receipts and replies → ``sms/events`` (campaign_ops.sms_events, applied to
the ledger and the suppressions).

The sensors (sensors.py) admit the files and request one run per tick for all of them
(defs/batched_arrivals.py); these steps read each admitted file again, check it still holds
the admitted bytes, store it and take it into archive/. A campaign file the store refuses
at this point (a different version of a campaign that has started) moves to rejected/ with
its .error.json; the run goes on with the next file. The rules are core/sms/campaign.py's and
core/sms/events.py's; the tables adapters/sms_store.py's.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.storage import storage_path
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.campaign import CampaignFile, parse_campaign
from campaign_pipelines.core.sms.events import parse_events
from campaign_pipelines.defs.batched_arrivals import admitted
from campaign_pipelines.defs.failures import warehouse_work
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource, sms_store
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY
from campaign_pipelines.defs.sequences.assets import ArrivedFile, ArrivedFiles
from campaign_pipelines.defs.sms.resources import SmsResource

GROUP = "sms"
CAMPAIGNS_KEY = dg.AssetKey([GROUP, "campaigns"])
EVENTS_KEY = dg.AssetKey([GROUP, "events"])


def store_campaign_file(file: ArrivedFile, data: bytes, *, warehouse: WarehouseResource,
                        campaign_data: CampaignDataResource, sms: SmsResource,
                        now: datetime) -> dict:
    """One admitted campaign file parsed, stored and answered (archive/ or rejected/)."""
    path, landing = storage_path(file.path), campaign_data.landing()
    store = sms_store(warehouse)
    def put(parsed: CampaignFile) -> str | ProblemsError:
        try:
            return store.put_campaign(parsed, now)
        except ProblemsError as refused:  # a different version of a started campaign
            return refused

    try:
        parsed = parse_campaign(data, path.name, now=now, stop_hint=sms.stop_hint,
                                max_segments=sms.max_segments)
        outcome = warehouse_work("campaign_ops.sms_campaigns", lambda: put(parsed))
        if isinstance(outcome, ProblemsError):
            raise outcome
    except ProblemsError as error:
        moved = landing.reject(path, {"problems": error.problems})
        return {"file": masked(path.name), "outcome": "refused",
                "error_file": f"{moved.name}.error.json",
                "problem": masked(error.problems[0]["problem"]) if error.problems else ""}
    landing.take(path, file.fingerprint)
    return {"file": masked(path.name), "campaign": parsed.campaign.name, "outcome": outcome,
            "version": parsed.version, "start_at": parsed.campaign.start_at.isoformat(),
            "notes": parsed.notes}


@dg.asset(key=CAMPAIGNS_KEY, group_name=GROUP, kinds={"duckdb"}, pool="warehouse",
          retry_policy=WAREHOUSE_RETRY)
def campaigns(context: dg.AssetExecutionContext, config: ArrivedFiles,
              warehouse: WarehouseResource, campaign_data: CampaignDataResource,
              sms: SmsResource) -> dg.MaterializeResult:
    """The admitted landing/sms campaign files, in arrival order, stored in
    campaign_ops.sms_campaigns as Scheduled (``created``), left as they are (``unchanged``:
    the same version), or replacing a Scheduled one (``replaced``); a file the store refuses
    moves to rejected/."""
    now = datetime.now(UTC)
    reports = [store_campaign_file(file, data, warehouse=warehouse,
                                   campaign_data=campaign_data, sms=sms, now=now)
               for file, data in admitted(config.files, context.log)]
    for report in reports:
        context.log.info(f"{report['file']}: {report['outcome']}")
    outcomes = pl.Series([r["outcome"] for r in reports], dtype=pl.String).value_counts()
    return dg.MaterializeResult(metadata={
        "files": len(reports), "outcomes": dg.MetadataValue.json(dict(outcomes.iter_rows())),
        "campaigns": dg.MetadataValue.json(reports)})


@dg.asset(key=EVENTS_KEY, group_name=GROUP, kinds={"duckdb"}, pool="warehouse",
          retry_policy=WAREHOUSE_RETRY)
def events(context: dg.AssetExecutionContext, config: ArrivedFiles,
           warehouse: WarehouseResource, campaign_data: CampaignDataResource
           ) -> dg.MaterializeResult:
    """The admitted landing/sms_events files appended to campaign_ops.sms_events once each
    (by event_id) and applied: receipts move the ledger forward, STOP words suppress the
    number for every campaign, START words lift a stop. A bad line is refused (its file and
    line in the metadata), the file's other lines applied."""
    found = admitted(config.files, context.log)
    frames, refused = [], []
    for file, data in found:
        rows, problems = parse_events(data)
        name = storage_path(file.path).name
        frames.append(rows.with_columns(source_file=pl.lit(name)))
        refused += [{**p, "file": masked(name), "problem": masked(p["problem"])}
                    for p in problems]
    applied: dict = {"received": 0}
    if frames:
        store = sms_store(warehouse)
        applied = warehouse_work("campaign_ops.sms_events", lambda: store.apply_events(
            pl.concat(frames), datetime.now(UTC)))
    landing = campaign_data.landing()
    for file, _ in found:
        landing.take(storage_path(file.path), file.fingerprint)
    unknown = applied.get("unknown_message_ids", [])
    return dg.MaterializeResult(metadata={
        "files": len(found), "received": applied["received"],
        "duplicates": applied.get("duplicates", 0),
        "outcomes": dg.MetadataValue.json(applied.get("outcomes", {})),
        "unknown_messages": len(unknown),
        "refused_lines": len(refused), "refused": dg.MetadataValue.json(refused[:20])})
