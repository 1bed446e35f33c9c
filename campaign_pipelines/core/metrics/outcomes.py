"""What a campaign changed: conversion in its target group against its control group.

Decisions:
- A member converts when they have at least one event named ``action`` dated in
  [start, end + window_days] (Almaty dates, both ends included). Each group counts its distinct
  IINs; the groups are taken as deployed (the deployment checks keep them disjoint).
- Rates are fractions (0.12, not 12 %); ``uplift_abs`` = target rate − control rate, so "4
  points" is 0.04; ``uplift_rel`` = target rate / control rate − 1.
- ``uplift_abs_ci``: Newcombe's hybrid score interval (1998, method 10) built from the two
  groups' Wilson intervals (scipy ``binomtest(...).proportion_ci(method="wilson")``). Unlike the
  Wald interval it keeps its 95 % coverage for rare conversions and unequal groups (a 10 %
  control group of a campaign converting at 1 % is the normal case here), never leaves
  [-1, 1], and equals Wald on large balanced samples. Checked against Newcombe's worked example.
- ``p_value``: the two-sided two-proportion z-test with pooled variance, computed as scipy's
  ``chi2_contingency`` without continuity correction on the 2×2 table (the same number: z² is
  that chi-square). It can disagree with the interval near the 5 % edge: they are different
  procedures, both standard; the interval is the one to read.
- ``uplift_rel_ci``: the Katz log interval of the risk ratio (scipy
  ``contingency.relative_risk``), minus 1; absent when the control group has no conversion.
- Sample-ratio mismatch: chi-square goodness of fit of the observed target and control sizes
  against the requested control share (scipy ``chisquare``). ``srm_ok`` is False below
  SRM_ALPHA = 0.001: the check runs on every campaign, so a strict threshold keeps false alarms
  to one in a thousand, while a real mismatch on a bank-sized audience gives p-values far
  below it (0.10 requested, 0.14 observed on 20,000 gives p ≈ 3e-79). A mismatch means the
  groups were not drawn as asked (lost rows, a filter applied to one group): the uplift is
  still reported, but should not be trusted until the cause is known.
- No control group (zero control IINs) → no uplift, no p-value, ``reason`` says so. A group
  under MIN_GROUP IINs, or no conversion in either group → rates and point estimates are
  reported but no interval nor p-value (the normal approximations behind them do not hold),
  and ``reason`` says why.
- Scale: events are filtered to the action and the window first, reduced to each IIN's first
  conversion date, and semi-joined to the groups, all in one lazy polars plan; no Python loop
  over rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta

import polars as pl

from campaign_pipelines.core.split import CONTROL, TARGET

CONFIDENCE = 0.95
SRM_ALPHA = 0.001
MIN_GROUP = 30
GROUPS = (TARGET, CONTROL)
BY_DAY_SCHEMA = pl.Schema({"day": pl.Date, "group": pl.String, "conversions": pl.Int64,
                           "rate": pl.Float64})

Interval = tuple[float, float]


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    window_days: int = 0

    @property
    def last_day(self) -> date:
        return self.end + timedelta(days=self.window_days)

    def __post_init__(self) -> None:
        if self.end < self.start or self.window_days < 0:
            raise ValueError(f"period {self.start}..{self.end} +{self.window_days} days: the "
                             "end must not precede the start, the window must be ≥ 0 days")


@dataclass(frozen=True)
class Outcome:
    action: str
    start: date
    end: date
    window_days: int
    target_users: int
    control_users: int
    target_conversions: int
    control_conversions: int
    target_rate: float | None
    control_rate: float | None
    target_rate_ci: Interval | None
    control_rate_ci: Interval | None
    uplift_abs: float | None
    uplift_abs_ci: Interval | None
    uplift_rel: float | None
    uplift_rel_ci: Interval | None
    p_value: float | None
    requested_control_share: float | None
    observed_control_share: float | None
    srm_p_value: float | None
    srm_ok: bool | None
    reason: str | None
    by_day: pl.DataFrame = field(repr=False, compare=False)  # BY_DAY_SCHEMA, cumulative

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: dates as ISO strings, intervals as [low, high]; without ``by_day``."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "by_day"}
        for key in ("start", "end"):
            values[key] = values[key].isoformat()
        for key, value in values.items():
            if isinstance(value, tuple):
                values[key] = list(value)
        return values


def conversions(groups: pl.LazyFrame, events: pl.LazyFrame, action: str,
                period: Period) -> pl.LazyFrame:
    """``group`` and ``first_day`` (null when the member did not convert) per distinct member
    of ``groups`` (iin, group)."""
    day = pl.col("event_date")
    first = (
        events.select(pl.col("iin", "event").cast(pl.String), day.cast(pl.Date))
        .filter((pl.col("event") == action) & day.is_between(period.start, period.last_day))
        .group_by("iin").agg(first_day=day.min())
    )
    return groups.unique(["iin", "group"]).join(first, on="iin", how="left")


def measure(target: pl.DataFrame, control: pl.DataFrame, events: pl.DataFrame | pl.LazyFrame,
            action: str, period: Period, control_share: float | None) -> Outcome:
    """The outcome of a campaign whose target and control groups are ``target`` and
    ``control`` (column ``iin``), given ``events`` (iin, event, event_date) and the control
    share the campaign requested (None or 0 when it asked for none)."""
    groups = pl.concat([frame.lazy().select(pl.col("iin").cast(pl.String), group=pl.lit(name))
                        for name, frame in ((TARGET, target), (CONTROL, control))])
    members = conversions(groups, events.lazy(), action, period)
    sizes, daily = pl.collect_all([
        members.group_by("group").agg(users=pl.len(), converted=pl.col("first_day").count()),
        members.drop_nulls("first_day").group_by("group", "first_day").agg(n=pl.len()),
    ])
    size = {g: (0, 0) for g in GROUPS} | {
        row["group"]: (row["users"], row["converted"]) for row in sizes.iter_rows(named=True)}
    (n_t, x_t), (n_c, x_c) = size[TARGET], size[CONTROL]
    return Outcome(
        action=action, start=period.start, end=period.end, window_days=period.window_days,
        target_users=n_t, control_users=n_c, target_conversions=x_t, control_conversions=x_c,
        target_rate=_rate(x_t, n_t), control_rate=_rate(x_c, n_c),
        target_rate_ci=wilson(x_t, n_t), control_rate_ci=wilson(x_c, n_c),
        **uplift(x_t, n_t, x_c, n_c), **sample_ratio(n_t, n_c, control_share),
        by_day=cumulative_by_day(daily, period, {TARGET: n_t, CONTROL: n_c}),
    )


def without_rates(outcome: Outcome, reason: str) -> Outcome:
    """``outcome`` with its sizes and sample-ratio test only: no action, rate nor uplift, and
    ``reason`` saying why."""
    nothing = dict.fromkeys(("target_rate", "control_rate", "target_rate_ci", "control_rate_ci",
                             "uplift_abs", "uplift_abs_ci", "uplift_rel", "uplift_rel_ci",
                             "p_value"))
    by_day = outcome.by_day.clear()
    return replace(outcome, **nothing, action="", reason=reason, by_day=by_day)


def _rate(converted: int, users: int) -> float | None:
    return converted / users if users else None


def wilson(converted: int, users: int) -> Interval | None:
    """The 95 % Wilson score interval of one group's rate."""
    if not users:
        return None
    from scipy.stats import binomtest

    ci = binomtest(converted, users).proportion_ci(CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def uplift(x_t: int, n_t: int, x_c: int, n_c: int) -> dict[str, object]:
    """``uplift_abs`` and ``uplift_rel`` with their intervals, ``p_value`` and ``reason``."""
    none = {"uplift_abs": None, "uplift_abs_ci": None, "uplift_rel": None,
            "uplift_rel_ci": None, "p_value": None}
    if not n_c:
        return none | {"reason": "no control group: the campaign deployed nobody to "
                       "mb21_local_control, so nothing measures what would have happened "
                       "without it"}
    if not n_t:
        return none | {"reason": "no target group: nobody was deployed to receive the campaign"}
    p_t, p_c = x_t / n_t, x_c / n_c
    point = {"uplift_abs": p_t - p_c, "uplift_rel": p_t / p_c - 1 if x_c else None}
    too_small = min(n_t, n_c) < MIN_GROUP
    if too_small or not (x_t or x_c):
        why = (f"a group has fewer than {MIN_GROUP} members (target {n_t}, control {n_c})"
               if too_small else "nobody in either group converted")
        return none | point | {"reason": f"{why}: the interval and p-value would not be "
                               "meaningful, only the rates are reported"}
    return point | {
        "uplift_abs_ci": newcombe(x_t, n_t, x_c, n_c),
        "uplift_rel_ci": _relative_ci(x_t, n_t, x_c, n_c) if x_c and x_t else None,
        "p_value": _p_value(x_t, n_t, x_c, n_c), "reason": None}


def newcombe(x_t: int, n_t: int, x_c: int, n_c: int) -> Interval:
    """Newcombe's hybrid score interval (method 10) of p_t − p_c at 95 %."""
    p_t, p_c = x_t / n_t, x_c / n_c
    (l_t, u_t), (l_c, u_c) = wilson(x_t, n_t), wilson(x_c, n_c)
    low = p_t - p_c - math.hypot(p_t - l_t, u_c - p_c)
    high = p_t - p_c + math.hypot(u_t - p_t, p_c - l_c)
    return low, high


def _relative_ci(x_t: int, n_t: int, x_c: int, n_c: int) -> Interval:
    from scipy.stats.contingency import relative_risk

    ci = relative_risk(x_t, n_t, x_c, n_c).confidence_interval(CONFIDENCE)
    return float(ci.low) - 1, float(ci.high) - 1


def _p_value(x_t: int, n_t: int, x_c: int, n_c: int) -> float:
    from scipy.stats import chi2_contingency

    table = [[x_t, n_t - x_t], [x_c, n_c - x_c]]
    if not (n_t - x_t or n_c - x_c):  # everyone converted: no difference to test
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def sample_ratio(n_t: int, n_c: int, share: float | None) -> dict[str, object]:
    """``srm_p_value`` and ``srm_ok`` of the observed sizes against the requested share."""
    total = n_t + n_c
    observed = n_c / total if total else None
    result = {"requested_control_share": share, "observed_control_share": observed,
              "srm_p_value": None, "srm_ok": None}
    if not share or not total:
        return result
    if not 0 < share < 1:
        raise ValueError(f"control share {share} must lie between 0 and 1")
    from scipy.stats import chisquare

    p = float(chisquare([n_t, n_c], f_exp=[total * (1 - share), total * share]).pvalue)
    return result | {"srm_p_value": p, "srm_ok": p >= SRM_ALPHA}


def cumulative_by_day(daily: pl.DataFrame, period: Period,
                      users: dict[str, int]) -> pl.DataFrame:
    """Per day of the period and group: conversions so far and their share of the group."""
    days = pl.date_range(period.start, period.last_day, eager=True).alias("day")
    grid = pl.DataFrame({"group": list(GROUPS)}).join(days.to_frame(), how="cross")
    counts = daily.rename({"first_day": "day"}).cast({"n": pl.Int64})
    return (
        grid.join(counts, on=["group", "day"], how="left")
        .sort("group", "day")
        .with_columns(conversions=pl.col("n").fill_null(0).cum_sum().over("group"))
        .with_columns(rate=pl.col("conversions")
                      / pl.col("group").replace_strict(users, return_dtype=pl.Float64))
        .with_columns(rate=pl.when(pl.col("rate").is_finite()).then("rate"))
        .select("day", "group", "conversions", "rate")
        .cast(BY_DAY_SCHEMA)  # type: ignore[arg-type]
    )
