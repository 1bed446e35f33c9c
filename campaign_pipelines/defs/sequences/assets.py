"""Sequences: landing/signups → sequences/signups → sequences/enrollments; landing/unsubscribes
→ sequences/suppressions; sequences/email_sequences sends what is due and shows the tracking.

The rules are in core/sequences; the tables in adapters/sequence_store.py; the sending loop and
its one retry layer (stamina, per message) in adapters/sequence_sender.py. These assets load,
call them and report. Steps that touch the warehouse carry ``WAREHOUSE_RETRY``: enrolling is
idempotent (a signup already recorded, by signup_id, is not recorded again) and so is sending
(the ledger's claims and the provider's idempotency keys). Metadata names no address whole.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from campaign_pipelines.adapters.sequence_sender import (
    ProviderDown,
    post_alerts,
    send_due,
    sync_tracking,
)
from campaign_pipelines.adapters.sequence_store import ENROLLMENTS, LEDGER, SIGNUPS, TRACKING
from campaign_pipelines.adapters.storage import storage_path
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sequences.intake import parse_lines, parse_unsubscribes, signup_rows
from campaign_pipelines.core.sequences.plan import SIGNUP_SCHEMA, enroll
from campaign_pipelines.defs.batched_arrivals import ArrivedFile, admitted
from campaign_pipelines.defs.failures import fail, warehouse_work
from campaign_pipelines.defs.markdown import markdown_table
from campaign_pipelines.defs.resources import (
    AlertsResource,
    CampaignDataResource,
    EmailProviderResource,
    SequencesResource,
    TrackingResource,
    WarehouseResource,
    sequence_store,
)
from campaign_pipelines.defs.retries import WAREHOUSE_RETRY

GROUP = "sequences"
SIGNUPS_KEY = dg.AssetKey([GROUP, "signups"])
ENROLLMENTS_KEY = dg.AssetKey([GROUP, "enrollments"])
SUPPRESSIONS_KEY = dg.AssetKey([GROUP, "suppressions"])
EMAIL_SEQUENCES_KEY = dg.AssetKey([GROUP, "email_sequences"])
TAKEN = "already taken (see archive/)"  # every file is taken, its refused lines named


class ArrivedFiles(dg.Config):
    files: list[ArrivedFile] = []


def _refused(file: ArrivedFile, problems: list[dict], context: dg.AssetExecutionContext
             ) -> list[dict]:
    """A file's refused lines, each logged and named with the file (masked) for the metadata."""
    named = [{**problem, "problem": masked(problem["problem"]),
              "file": masked(storage_path(file.path).name)} for problem in problems]
    for problem in named:
        context.log.warning(f"refused {problem['file']} {problem['field']}: {problem['problem']}")
    return named


def _take(campaign_data: CampaignDataResource, found: list[tuple[ArrivedFile, bytes]]) -> None:
    landing = campaign_data.landing()
    for file, _ in found:
        landing.take(storage_path(file.path), file.fingerprint)


@dg.asset(key=SIGNUPS_KEY, group_name=GROUP, kinds={"polars", "duckdb"}, pool="warehouse",
          retry_policy=WAREHOUSE_RETRY)
def signups(
    context: dg.AssetExecutionContext, config: ArrivedFiles, warehouse: WarehouseResource,
    campaign_data: CampaignDataResource, sequences: SequencesResource,
) -> dg.Output[pl.DataFrame]:
    """The admitted landing/signups files, appended to campaign_ops.signups with their
    arrival; new addresses enrolled (seven sends planned) in the same transaction. The value:
    this batch's signups, segment and outcome, addresses masked."""
    definitions = _definitions(sequences)
    found = admitted(config.files, context.log, TAKEN)
    frames, refused = [SIGNUP_SCHEMA.to_frame()], []
    for file, data in found:
        records, problems = parse_lines(data, set(definitions))
        refused += _refused(file, problems, context)
        frames.append(signup_rows(records, storage_path(file.path).name, file.arrival))
    now = datetime.now(UTC)
    store = sequence_store(warehouse, campaign_data)
    result = warehouse_work(SIGNUPS, lambda: store.admit(
        pl.concat(frames), lambda new, pairs: enroll(new, pairs, definitions,
                                                     sequences.timing, now)))  # type: ignore[arg-type]
    _take(campaign_data, found)
    batch = result.signups.select(
        pl.col("signup_id").map_elements(masked, return_dtype=pl.String), "sequence",
        "segment", "outcome",
        pl.col("address_key").map_elements(masked, return_dtype=pl.String).alias("address"))
    return dg.Output(batch, metadata={
        "files": len(found), **_scalars(result.counts()), "timing": sequences.timing,
        "refused_lines": len(refused),
        "refused": dg.MetadataValue.json(refused[:20]),
        "dagster/row_count": batch.height,
    })


@dg.asset(key=ENROLLMENTS_KEY, ins={"batch": dg.AssetIn(SIGNUPS_KEY)}, group_name=GROUP,
          kinds={"polars", "duckdb"}, retry_policy=WAREHOUSE_RETRY)
def enrollments(batch: pl.DataFrame, warehouse: WarehouseResource,
                campaign_data: CampaignDataResource) -> dg.MaterializeResult:
    """campaign_ops.enrollments after this batch: one per address and sequence."""
    counts = warehouse_work(ENROLLMENTS, lambda: sequence_store(warehouse, campaign_data).counts())
    enrolled = batch.filter(pl.col("outcome") == "enrolled")
    return dg.MaterializeResult(metadata={
        "enrolled_now": enrolled.height,
        "duplicates_now": batch.height - enrolled.height,
        "enrolled_now_per_segment": dg.MetadataValue.json(
            dict(enrolled.group_by("segment").len().sort("segment").iter_rows())),
        "enrollments_per_segment_and_status": dg.MetadataValue.json(counts["enrollments"]),
        "ledger_per_state": dg.MetadataValue.json(counts["ledger"]),
        "sample": dg.MetadataValue.md(markdown_table(batch.head(10))),
    })


@dg.asset(key=SUPPRESSIONS_KEY, group_name=GROUP, kinds={"duckdb"}, pool="warehouse",
          retry_policy=WAREHOUSE_RETRY)
def suppressions(
    context: dg.AssetExecutionContext, config: ArrivedFiles, warehouse: WarehouseResource,
    campaign_data: CampaignDataResource,
) -> dg.MaterializeResult:
    """Unsubscribes from landing/unsubscribes into campaign_ops.email_suppressions: the
    address gets no further e-mail of any sequence."""
    found = admitted(config.files, context.log, TAKEN)
    frames, refused = [], []
    for file, data in found:
        rows, problems = parse_unsubscribes(data)
        frames.append(rows)
        refused += _refused(file, problems, context)
    added = 0
    if frames:
        store = sequence_store(warehouse, campaign_data)
        added = warehouse_work(SUPPRESSIONS_KEY.to_user_string(), lambda: store.suppress(
            pl.concat(frames), datetime.now(UTC)))
    _take(campaign_data, found)
    return dg.MaterializeResult(metadata={"files": len(found), "suppressed_now": added,
                                          "refused_lines": len(refused),
                                          "refused": dg.MetadataValue.json(refused[:20])})


class SendConfig(dg.Config):
    now: str = ""  # ISO time to send as of (default: the run's start); runs the clock forward


@dg.asset(key=EMAIL_SEQUENCES_KEY, deps=[ENROLLMENTS_KEY, SUPPRESSIONS_KEY], group_name=GROUP,
          kinds={"duckdb", "email"}, retry_policy=WAREHOUSE_RETRY)
def email_sequences(
    context: dg.AssetExecutionContext, config: SendConfig, warehouse: WarehouseResource,
    campaign_data: CampaignDataResource, sequences: SequencesResource,
    email_provider: EmailProviderResource, alerts: AlertsResource, tracking: TrackingResource,
) -> dg.MaterializeResult:
    """Sends every due e-mail (claim, send with the warehouse closed, record) after posting
    pending CRITICAL alerts; campaign_ops.email_sequences is the tracking table it fills, and
    its changed rows are mirrored to Notion when NOTION_TOKEN is set."""
    try:
        now = datetime.fromisoformat(config.now) if config.now else datetime.now(UTC)
    except ValueError:
        raise fail(f"now={config.now!r} is not an ISO time: write it like "
                   "2026-12-01T09:07Z") from None
    if now.tzinfo is None:
        raise fail(f"now={config.now!r} has no UTC offset: write it like 2026-12-01T09:07Z")
    store = sequence_store(warehouse, campaign_data)
    sender, definitions = sequences.sender(), _definitions(sequences)
    alert_states = warehouse_work(ENROLLMENTS, lambda: post_alerts(
        store, alerts.webhook(), now, log=context.log.warning))
    provider = email_provider.provider()

    def send():
        try:
            return send_due(store, provider, definitions, sender, now, log=context.log.warning)
        except ProviderDown as down:  # recorded in the ledger; the next tick tries again
            raise fail(masked(str(down))) from None

    try:
        report = warehouse_work(LEDGER, send)
    finally:
        getattr(provider, "close", lambda: None)()
    mirror = tracking.tracking()
    try:
        synced = warehouse_work(TRACKING, lambda: sync_tracking(store, mirror,
                                                                log=context.log.warning))
    finally:
        getattr(mirror, "close", lambda: None)()
    tracked, sent_per_email = warehouse_work(TRACKING, store.tracking_counts)
    return dg.MaterializeResult(metadata={
        **_scalars(report.as_metadata()), "now": now.isoformat(), "provider": provider.name,
        "alerts": dg.MetadataValue.json(alert_states),
        "enrollments_tracked": tracked,
        "notion_sync": dg.MetadataValue.json(synced or {"off": "NOTION_TOKEN is not set"}),
        "sent_per_email": dg.MetadataValue.json(sent_per_email),
    })


def _definitions(sequences: SequencesResource):
    try:
        return sequences.definitions()
    except ProblemsError as error:
        raise fail(str(error), error.problems) from None


def _scalars(values: dict) -> dict:
    return {k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
            for k, v in values.items()}
