"""Benchmark of the streak rule engine: 10M users, every one with a pending assignment.

    .venv/bin/python bench/bench_streaks.py [--users N] [--config PATH]

Builds the state and the requests in memory (demo generator, so the mix of NA, batch buckets
and experiments is realistic), then times ``decide`` (the rule engine) and ``plan_day`` (the
whole daily plan: new users, completions, chain hops, batch requests, engine). Prints figures;
asserts nothing. The engine and the daily plan run REPEATS times in one process; the best and
the median are printed. The first run of a process also pays for the memory it touches first
(on a VM whose host backs guest memory lazily, far more than the work itself), so the best of
the repeats is the figure for the code, and the first run is printed as well. Wall time of
the warehouse read/write is not included: see the materialization metadata of
streaks/assignments for a real run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG, load_config_file
from campaign_pipelines.core.streaks.daily import plan_day
from campaign_pipelines.core.streaks.eligibility import BATCH_ELIGIBILITY, batch_eligibility
from campaign_pipelines.core.streaks.engine import RunStamp, decide
from campaign_pipelines.demo.user_activity import generate_user_activity

REPEATS = 3


def _timed(label: str, action, repeats: int = 1):
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    line = f"{label:<44}{min(seconds):>8.2f} s"
    if repeats > 1:
        line += (f"  (best of {repeats}; median {statistics.median(seconds):.2f} s, "
                 f"first {seconds[0]:.2f} s)")
    print(line)
    return result


def _engine(state: pl.DataFrame, config, run: RunStamp) -> None:
    campaigns = [name for name, _ in BATCH_ELIGIBILITY]
    # Worst case for the engine: every user has a pending batch assignment.
    requests = state.select(
        "user_id",
        target=pl.lit(pl.Series(campaigns)).gather(pl.col("user_id") % len(campaigns)),
        source=pl.lit("batch"),
    )
    decision = _timed("rule engine (decide), all users pending",
                      lambda: decide(state, requests, config, run), REPEATS)
    counts = dict(decision.audit.group_by("action").len().iter_rows())
    print(f"  audit rows {decision.audit.height:,}, state updates {decision.updates.height:,}, "
          f"by action {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args()
    config = load_config_file(args.config)
    print(f"users={args.users:,} rules={len(config.rules)} cpus={os.cpu_count()} "
          f"polars threads={pl.thread_pool_size()}")
    frames = _timed("generate state + activity", lambda: generate_user_activity(args.users))
    state, activity = frames["user_streak_state"], frames["user_activity"]
    run = RunStamp(run_id="bench", at=datetime.now(UTC))
    _engine(state, config, run)  # its output is freed before the daily plan is measured
    eligible = _timed("batch eligibility", lambda: batch_eligibility(activity))
    day = _timed("daily plan (plan_day)",
                 lambda: plan_day(state, activity, eligible, config, run), REPEATS)
    print(f"  summary {day.summary}")


if __name__ == "__main__":
    main()
