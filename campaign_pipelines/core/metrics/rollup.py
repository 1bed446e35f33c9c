"""The daily rollup: one row per day × campaign × channel over what every domain records.

Decisions:
- Days are Almaty dates (BANK_TIMEZONE); every timestamp the ledgers keep is UTC, so 19:30 UTC
  is already the next Almaty day. ``utc_bounds`` gives adapters the UTC range to read.
- Channels and their "campaign": ``deploy`` (the campaign code; target and control rows from
  the deployment ledger, on the Almaty day of the load; the ledger keeps a table's last load
  only, so a redeployed campaign moves to the day of its last load), ``streaks`` (the streak:
  ``to_streak`` of an assignment or a block, ``from_streak`` of a release), ``email`` (the
  sequence) and ``sms`` (the SMS campaign).
- Sends are counted by cohort: each ledger row once, on the Almaty day it was due (e-mail
  ``due_at``) or queued (SMS ``queued_at``), in the state it has when the rollup runs. So
  delivered + failed ≤ sent ≤ queued holds for every row of the table, and re-running a day
  brings late receipts in. ``sent`` counts every message handed to the provider, accepted or
  refused (the SMS campaign counters count accepted ones only), so that ``failed`` (refused or
  undelivered) is part of it; suppressed and expired rows are queued, never sent.
- Replies, opt-outs and unsubscribes are events: counted on the Almaty day they arrived. An SMS
  reply is any inbound message matched to a campaign (opt-outs and opt-ins included, as the SMS
  counters do); events matched to no campaign are left out.
- A count that does not apply to a channel is null (a deployment has no ``sent``; the e-mail
  ledger records no delivery receipts, so e-mail ``delivered`` is null); a count that applies
  but saw nothing is 0. A domain that is absent (None or an empty frame) contributes no rows
  rather than rows of zeros: "nothing recorded" and "not there" stay distinguishable.
- Rates are fractions of ``sent`` (delivery, failure, opt-out = opt-outs + unsubscribes);
  null when nothing was sent or the numerator does not apply, never a 0.0 that would drag an
  average down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeGuard
from zoneinfo import ZoneInfo

import polars as pl

from campaign_pipelines.core.deployment import MB21_LOCAL_CONTROL, MB22_LOCAL_TARGET, Table
from campaign_pipelines.core.registry import BANK_TIMEZONE
from campaign_pipelines.core.sequences.plan import STATES as EMAIL_STATES
from campaign_pipelines.core.sms.ledger import LedgerState

DEPLOY, STREAKS, EMAIL, SMS = "deploy", "streaks", "email", "sms"
CHANNELS = (DEPLOY, STREAKS, EMAIL, SMS)
STREAK_COUNTS = ("assigned_batch", "assigned_manual", "assigned_chain", "blocked", "released")
SEND_COUNTS = ("queued", "sent", "delivered", "failed", "replies", "opt_outs", "unsubscribes")
COUNTS = ("target", "control", *STREAK_COUNTS, *SEND_COUNTS)
RATES = ("delivery_rate", "failure_rate", "opt_out_rate")
KPI_SCHEMA = pl.Schema({"day": pl.Date, "campaign": pl.String, "channel": pl.String,
                        **{c: pl.Int64 for c in COUNTS}, **{r: pl.Float64 for r in RATES}})
KEY = ("day", "campaign", "channel")
# The warehouse table, in core/deployment.py's logical kinds; "rate" (a float: DOUBLE,
# BINARY_DOUBLE) is a kind adapters/warehouse/ddl.py must know before it creates it.
KPI_DAILY = Table(
    "campaign_ops", "kpi_daily",
    (("day", "date"), ("campaign", "name"), ("channel", "name"),
     *((c, "int") for c in COUNTS), *((r, "rate") for r in RATES)),
    constraints=("CONSTRAINT kpi_daily_pk PRIMARY KEY (day, campaign, channel)",),
)
# The counts each channel reports; the others stay null on its rows.
CHANNEL_COUNTS = {
    DEPLOY: ("target", "control"),
    STREAKS: STREAK_COUNTS,
    EMAIL: ("queued", "sent", "failed", "unsubscribes"),
    SMS: ("queued", "sent", "delivered", "failed", "replies", "opt_outs"),
}
SMS_SENT = ("sent", "delivered", "undelivered", "failed")
SMS_FAILED = ("failed", "undelivered")
EMAIL_SENT = ("sent", "failed")
EMAIL_FAILED = ("failed",)


@dataclass(frozen=True)
class Activity:
    """What the adapters read for the days wanted; None when a domain is not there.

    - ``deployments``: campaign_ops.campaign_deployments (campaign_code, table_name,
      row_count, loaded_at);
    - ``streak_audit``: the streak audit (core/streaks/engine.py AUDIT_SCHEMA);
    - ``email_ledger``: the sequences' send ledger (sequence, state, due_at);
    - ``email_unsubscribes``: campaign (the sequence the address was enrolled in), received_at;
    - ``sms_ledger``: campaign, state, queued_at; ``sms_events``: campaign, kind, outcome,
      received_at (campaign_ops.sms_events).
    """

    deployments: pl.DataFrame | None = None
    streak_audit: pl.DataFrame | None = None
    email_ledger: pl.DataFrame | None = None
    email_unsubscribes: pl.DataFrame | None = None
    sms_ledger: pl.DataFrame | None = None
    sms_events: pl.DataFrame | None = None


def utc_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) that the Almaty days ``first``..``last`` cover."""
    zone = ZoneInfo(BANK_TIMEZONE)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def daily_kpis(activity: Activity, first: date, last: date) -> pl.DataFrame:
    """KPI_SCHEMA rows for the Almaty days ``first``..``last``, sorted by day, campaign and
    channel."""
    parts = [
        part for part in (_deploy(activity), _streaks(activity), _email(activity),
                          _sms(activity)) if part is not None
    ]
    if not parts:
        return KPI_SCHEMA.to_frame()
    rows = pl.concat(parts, how="diagonal_relaxed").filter(pl.col("day").is_between(first, last))
    return (
        rows.with_columns(**{c: pl.lit(None, pl.Int64) for c in COUNTS
                             if c not in rows.collect_schema()})
        .with_columns(**rates())
        .select(KPI_SCHEMA.names())
        .cast(KPI_SCHEMA)  # type: ignore[arg-type]
        .sort(KEY)
        .collect()
    )


def rates() -> dict[str, pl.Expr]:
    """Fractions of ``sent``: null when nothing was sent or the count does not apply."""
    sent = pl.when(pl.col("sent") > 0).then(pl.col("sent"))
    opt_outs = pl.when(pl.col("opt_outs").is_not_null() | pl.col("unsubscribes").is_not_null())
    return {
        "delivery_rate": pl.col("delivered") / sent,
        "failure_rate": pl.col("failed") / sent,
        "opt_out_rate": opt_outs.then(pl.sum_horizontal("opt_outs", "unsubscribes")) / sent,
    }


def send_totals(kpis: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Each send channel's counts summed over the rows (one campaign's period, say), for the
    channels that have a row: ``{"sms": {"queued": 1210, "sent": 1204, ...}}``."""
    sends = kpis.filter(pl.col("channel").is_in([EMAIL, SMS]))
    totals = sends.group_by("channel").agg(pl.col(c).sum() for c in SEND_COUNTS).sort("channel")
    return {row.pop("channel"): row for row in totals.iter_rows(named=True)}


def violations(kpis: pl.DataFrame) -> pl.DataFrame:
    """One row (day, campaign, channel, rule) per broken invariant: no count negative,
    delivered + failed ≤ sent, sent ≤ queued, one row per day × campaign × channel."""
    def zero(column: str) -> pl.Expr:
        return pl.col(column).fill_null(0)

    rules = {
        "a count is negative": pl.any_horizontal(pl.col(c) < 0 for c in COUNTS),
        "delivered + failed > sent": zero("delivered") + zero("failed") > zero("sent"),
        "sent > queued": zero("sent") > zero("queued"),
        "the day, campaign and channel repeat": pl.struct(KEY).is_duplicated(),
    }
    found = [kpis.filter(rule.fill_null(False)).select(*KEY, rule=pl.lit(name))
             for name, rule in rules.items()]
    return pl.concat(found)


def _present(frame: pl.DataFrame | None) -> TypeGuard[pl.DataFrame]:
    return frame is not None and not frame.is_empty()


def _local_day(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The Almaty date of a UTC timestamp column (naive timestamps are taken as UTC)."""
    stamp = pl.col(column)
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        stamp = stamp.dt.replace_time_zone("UTC")
    return stamp.dt.convert_time_zone(BANK_TIMEZONE).dt.date()


def _counted(frame: pl.DataFrame, stamp: str, campaign: pl.Expr, channel: str,
             counts: dict[str, pl.Expr]) -> pl.LazyFrame:
    """Per Almaty day and campaign, the sum of each boolean count expression."""
    return (
        frame.lazy()
        .select(day=_local_day(frame, stamp), campaign=campaign.cast(pl.String),
                **{name: expr.cast(pl.Int64) for name, expr in counts.items()})
        .drop_nulls("campaign")
        .group_by("day", "campaign").agg(pl.col(list(counts)).sum())
        .with_columns(channel=pl.lit(channel))
    )


def _channel(channel: str, parts: list[pl.LazyFrame]) -> pl.LazyFrame | None:
    """The channel's parts summed into one row per day and campaign, its counts 0 not null."""
    if not parts:
        return None
    counts = list(CHANNEL_COUNTS[channel])
    merged = pl.concat(parts, how="diagonal_relaxed")
    merged = merged.with_columns(**{c: pl.lit(0, pl.Int64) for c in counts
                                    if c not in merged.collect_schema()})
    return (merged.group_by("day", "campaign", "channel")
            .agg(pl.col(counts).fill_null(0).sum()))


def _deploy(activity: Activity) -> pl.LazyFrame | None:
    frame = activity.deployments
    if not _present(frame):
        return None
    table = pl.col("table_name")
    return _channel(DEPLOY, [_counted(frame, "loaded_at", pl.col("campaign_code"), DEPLOY, {
        "target": pl.when(table == MB22_LOCAL_TARGET.qualified).then("row_count").otherwise(0),
        "control": pl.when(table == MB21_LOCAL_CONTROL.qualified).then("row_count").otherwise(0),
    })])


def _streaks(activity: Activity) -> pl.LazyFrame | None:
    frame = activity.streak_audit
    if not _present(frame):
        return None
    action, source = pl.col("action"), pl.col("source")
    streak = pl.when(action == "released").then("from_streak").otherwise("to_streak")
    counts = {f"assigned_{s}": (action == "assigned") & (source == s)
              for s in ("batch", "manual", "chain")}
    counts |= {"blocked": action == "blocked", "released": action == "released"}
    return _channel(STREAKS, [_counted(frame, "recorded_at", streak, STREAKS, counts)])


def _email(activity: Activity) -> pl.LazyFrame | None:
    ledger, unsubscribes = activity.email_ledger, activity.email_unsubscribes
    state = pl.col("state")
    parts = []
    if _present(ledger):
        _check_states(ledger, EMAIL_STATES, "e-mail ledger")
        parts.append(_counted(ledger, "due_at", pl.col("sequence"), EMAIL, {
            "queued": pl.lit(1), "sent": state.is_in(EMAIL_SENT),
            "failed": state.is_in(EMAIL_FAILED)}))
    if _present(unsubscribes):
        parts.append(_counted(unsubscribes, "received_at", pl.col("campaign"), EMAIL,
                              {"unsubscribes": pl.lit(1)}))
    return _channel(EMAIL, parts)


def _sms(activity: Activity) -> pl.LazyFrame | None:
    ledger, events = activity.sms_ledger, activity.sms_events
    state, outcome = pl.col("state"), pl.col("outcome")
    parts = []
    if _present(ledger):
        _check_states(ledger, tuple(LedgerState), "SMS ledger")
        parts.append(_counted(ledger, "queued_at", pl.col("campaign"), SMS, {
            "queued": pl.lit(1), "sent": state.is_in(SMS_SENT),
            "delivered": state == "delivered", "failed": state.is_in(SMS_FAILED)}))
    if _present(events):
        inbound = events.filter(pl.col("kind") == "inbound")
        if not inbound.is_empty():
            parts.append(_counted(inbound, "received_at", pl.col("campaign"), SMS, {
                "replies": outcome.is_in(("reply", "opt_out", "opt_in")),
                "opt_outs": outcome == "opt_out"}))
    return _channel(SMS, parts)


def _check_states(frame: pl.DataFrame, known: tuple[str, ...], where: str) -> None:
    """A state the rollup does not know would be counted as merely queued: refuse it."""
    unknown = set(frame.get_column("state").unique().drop_nulls().to_list()) - set(known)
    if unknown or frame.get_column("state").null_count():
        raise ValueError(f"{where}: unknown ledger states {sorted(unknown)} (or null): teach "
                         "core/metrics/rollup.py what they count as before rolling them up")
