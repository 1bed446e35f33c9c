"""Batch eligibility: declarative predicates over ``sources.user_activity``.

``sources.user_activity`` holds one row per user and snapshot day (the latest day is used):

=======================  =========  ===================================================
column                   type       meaning
=======================  =========  ===================================================
user_id                  BIGINT     the user
activity_date            DATE       snapshot day
upi_linked               BOOLEAN    a UPI handle is linked to the account
upi_txn_30d              INTEGER    UPI payments in the last 30 days
snp_txn_30d              INTEGER    scan-and-pay payments in the last 30 days
days_since_last_txn      INTEGER    days since any payment; NULL = never paid
active_lobs              SMALLINT   lines of business with a payment in 30 days
credit_mtu               BOOLEAN    paid with the credit line this month
completed_streak_type    VARCHAR    streak the user completed (streak backend); NULL if none
=======================  =========  ===================================================

A campaign's predicates are ANDed; a NULL never satisfies a predicate. A user eligible for
several campaigns gets the first in ``BATCH_ELIGIBILITY`` order (retention before activation
before the broad UPI streak), so each user has at most one batch request a day.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import polars as pl

ACTIVITY_SCHEMA = pl.Schema({
    "user_id": pl.Int64,
    "activity_date": pl.Date,
    "upi_linked": pl.Boolean,
    "upi_txn_30d": pl.Int32,
    "snp_txn_30d": pl.Int32,
    "days_since_last_txn": pl.Int32,
    "active_lobs": pl.Int16,
    "credit_mtu": pl.Boolean,
    "completed_streak_type": pl.String,
})
_OPS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
        "gt": operator.gt, "ge": operator.ge}


@dataclass(frozen=True)
class Predicate:
    column: str
    op: str  # eq ne lt le gt ge
    value: int | bool

    def expr(self) -> pl.Expr:
        return _OPS[self.op](pl.col(self.column), self.value).fill_null(False)

    def describe(self) -> str:
        return f"{self.column} {self.op} {self.value}"


BATCH_ELIGIBILITY: tuple[tuple[str, tuple[Predicate, ...]], ...] = (
    # Credit-line users active in one line only: keep them and widen their use.
    ("cred_mtu_single_lob_others_retention",
     (Predicate("credit_mtu", "eq", True), Predicate("active_lobs", "eq", 1))),
    # Users active in several lines who never used scan-and-pay: activate it.
    ("snp_flat_10_multilob_act_react",
     (Predicate("active_lobs", "ge", 2), Predicate("snp_txn_30d", "eq", 0))),
    # UPI linked but below 25 UPI payments a month: the 25-day UPI streak.
    ("upi_25x1_streak",
     (Predicate("upi_linked", "eq", True), Predicate("upi_txn_30d", "lt", 25))),
)


def batch_campaign_names() -> list[str]:
    """The batch campaigns this code assigns users to: each must be a batch campaign of the
    journey config, and the config's batch campaigns must be these (``lint``)."""
    return [name for name, _ in BATCH_ELIGIBILITY]


def describe_eligibility() -> dict[str, list[str]]:
    return {name: [p.describe() for p in preds] for name, preds in BATCH_ELIGIBILITY}


def missing_columns(activity: pl.DataFrame | pl.LazyFrame) -> list[str]:
    present = set(activity.collect_schema().names())
    return [name for name in ACTIVITY_SCHEMA.names() if name not in present]


def batch_eligibility(activity: pl.DataFrame) -> pl.DataFrame:
    """(user_id, campaign) for every user some batch campaign wants, first match wins."""
    campaign = pl.coalesce([
        pl.when(pl.all_horizontal([p.expr() for p in preds])).then(pl.lit(name))
        for name, preds in BATCH_ELIGIBILITY
    ])
    return (
        activity.lazy()
        .select("user_id", campaign.alias("campaign"))
        .filter(pl.col("campaign").is_not_null())
        .collect()
    )


def eligibility_counts(eligible: pl.DataFrame) -> dict[str, int]:
    counts = {name: 0 for name, _ in BATCH_ELIGIBILITY}
    for name, count in eligible.group_by("campaign").len().iter_rows():
        counts[name] = int(count)
    return counts
