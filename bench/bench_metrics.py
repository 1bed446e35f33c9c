"""Metrics benchmark: the two computations of the metrics domain at a bank's size, through the
pure core (no warehouse), each against a target of 10 s on 2 cores:

- outcome: a campaign of 10M users (10 % control, target converting at 12 %, control at 8 %)
  against 50M client events (the action in and out of the period, other events), measured by
  core/metrics/outcomes.py ``measure``;
- rollup: 30 Almaty days over 10M ledger rows (half e-mail, half SMS, with SMS replies and
  opt-outs on the side), rolled up by core/metrics/rollup.py ``daily_kpis``.

The worlds are generated with numpy and polars first, not timed; scipy is imported before the
clock starts (a one-time cost of the process, not of a measurement). Prints figures; asserts
nothing.  python bench/bench_metrics.py [--users 10000000] [--events 50000000]
[--ledger-rows 10000000] [--days 30]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from campaign_pipelines.core.metrics.outcomes import Period, measure
from campaign_pipelines.core.metrics.rollup import Activity, daily_kpis, utc_bounds
from campaign_pipelines.core.sequences.plan import STATES as EMAIL_STATES
from campaign_pipelines.core.sms.ledger import LedgerState

ACTION = "loan_opened"
OTHER_EVENTS = ("app_login", "card_payment", "transfer", "deposit_opened")
START = date(2026, 11, 1)
PERIOD = Period(START, date(2026, 11, 30), window_days=7)
FIRST_IIN = 100_000_000_000
TARGET_SECONDS = 10


def outcome_world(users: int, events: int, control_share: float, rng: np.random.Generator):
    """Target and control frames (iin) and ``events`` events (iin, event, event_date): each
    member converts at their group's rate on a day of the period; the other events are other
    actions around the period, or the action before it, by members and by 20 % more clients."""
    in_control = rng.random(users) < control_share
    iins = pl.Series("iin", np.arange(FIRST_IIN, FIRST_IIN + users)).cast(pl.String)
    converts = rng.random(users) < np.where(in_control, 0.08, 0.12)
    converters = np.flatnonzero(converts)
    days = (PERIOD.end - PERIOD.start).days + 1
    noise = max(events - len(converters), 0)
    before = rng.random(noise) < 0.1
    who = np.concatenate([converters, rng.integers(0, int(users * 1.2), noise)])
    offset = np.concatenate([rng.integers(0, days, len(converters)),
                             np.where(before, rng.integers(-120, -1, noise),
                                      rng.integers(-30, days + 30, noise))])
    names = np.concatenate([np.zeros(len(converters), np.int8),
                            np.where(before, 0, rng.integers(1, len(OTHER_EVENTS) + 1, noise))])
    frame = pl.DataFrame({
        "iin": (pl.Series(who, dtype=pl.Int64) + FIRST_IIN).cast(pl.String),
        "event": pl.Series([ACTION, *OTHER_EVENTS]).gather(names),
        "event_date": pl.Series(offset + (START - date(1970, 1, 1)).days, dtype=pl.Int32)
        .cast(pl.Date),
    })
    target = iins.filter(~pl.Series(in_control)).to_frame()
    control = iins.filter(pl.Series(in_control)).to_frame()
    return target, control, frame.head(events)


def bench_outcome(users: int, events: int, control_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    target, control, frame = outcome_world(users, events, control_share, rng)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    outcome = measure(target, control, frame, ACTION, PERIOD, control_share)
    seconds = time.perf_counter() - started
    low, high = outcome.uplift_abs_ci or (float("nan"), float("nan"))
    print(f"outcome: users={users:,} control={control.height:,} events={frame.height:,} "
          f"measure {seconds:.2f} s (target <= {TARGET_SECONDS} s; world generated in "
          f"{generated:.1f} s, not timed)")
    print(f"  found: target {outcome.target_rate:.4f} control {outcome.control_rate:.4f} "
          f"uplift {outcome.uplift_abs:+.4f} [{low:+.4f}, {high:+.4f}] "
          f"srm_p {outcome.srm_p_value:.3f}")


def ledger_world(rows: int, days: int, rng: np.random.Generator) -> Activity:
    """``rows`` ledger rows, half e-mail (20 sequences) and half SMS (20 campaigns), stamped
    across the days' UTC range, in every state; SMS inbound events at 2 % of the SMS rows."""
    start, end = utc_bounds(START, START + timedelta(days=days - 1))
    span_us = int((end - start).total_seconds() * 1_000_000)

    def stamps(count: int) -> pl.Series:
        offsets = pl.Series(rng.integers(0, span_us, count), dtype=pl.Int64)
        return (pl.lit(start.replace(tzinfo=None)) + pl.duration(microseconds=offsets)).alias(
            "stamp")

    def ledger(count: int, key: str, names: str, states: tuple[str, ...], stamp: str):
        return pl.DataFrame({
            key: pl.Series([f"{names}_{n:02d}" for n in range(20)]).gather(
                rng.integers(0, 20, count)),
            "state": pl.Series(list(states)).gather(rng.integers(0, len(states), count)),
        }).with_columns(stamps(count).alias(stamp))

    email_rows = rows // 2
    sms_rows = rows - email_rows
    inbound = sms_rows // 50
    sms_events = ledger(inbound, "campaign", "sms", ("reply", "opt_out", "opt_in"),
                        "received_at").rename({"state": "outcome"}).with_columns(
        kind=pl.lit("inbound"))
    return Activity(
        email_ledger=ledger(email_rows, "sequence", "seq", EMAIL_STATES, "due_at"),
        sms_ledger=ledger(sms_rows, "campaign", "sms", tuple(LedgerState), "queued_at"),
        sms_events=sms_events,
    )


def bench_rollup(rows: int, days: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    activity = ledger_world(rows, days, rng)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    kpis = daily_kpis(activity, START, START + timedelta(days=days - 1))
    seconds = time.perf_counter() - started
    counted = int(kpis.get_column("queued").sum())
    print(f"rollup: days={days} ledger_rows={rows:,} kpi_rows={kpis.height:,} "
          f"daily_kpis {seconds:.2f} s (target <= {TARGET_SECONDS} s; ledgers generated in "
          f"{generated:.1f} s, not timed)")
    print(f"  queued counted {counted:,} of {rows:,} ledger rows (each once, on its Almaty day)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--control-share", type=float, default=0.10)
    parser.add_argument("--ledger-rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import scipy.stats  # noqa: F401 - imported before the clocks start (see the docstring)

    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads; "
          f"started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    bench_outcome(args.users, args.events, args.control_share, args.seed)
    bench_rollup(args.ledger_rows, args.days, args.seed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak RSS {peak:,} MB")


if __name__ == "__main__":
    main()
