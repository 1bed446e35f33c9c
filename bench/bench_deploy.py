"""Deployment benchmark: 10M target + 1M control rows replaced in the embedded warehouse.

Prints figures; asserts nothing.  python bench/bench_deploy.py [--target 10000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.requests import parse_request

REQUEST = parse_request(
    '{"campaign_type": "RB1", "user_iins": ["1"], "metadata": {"campaign_name": "Bench",'
    ' "channel": "Push", "date_start": "2026-12-01", "date_end": "2026-12-31"}}'
)


def _split(target: int, control: int) -> pl.DataFrame:
    keys = pl.int_range(850101300000, 850101300000 + target + control, eager=True)
    return pl.DataFrame(
        {
            "iin": keys.cast(pl.String),
            "iin_key": keys,
            "group": pl.Series(["target"] * target + ["control"] * control),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", type=int, default=10_000_000)
    parser.add_argument("--control", type=int, default=1_000_000)
    args = parser.parse_args()
    split = _split(args.target, args.control)
    with tempfile.TemporaryDirectory() as folder:
        deployment = DuckDBDeployment(DuckDBWarehouse(Path(folder) / "warehouse.duckdb"))
        deployment.init_schema()
        now = datetime.now()
        for attempt in ("first deploy", "re-deploy (replaces)"):
            timings = {}
            for table in (
                tables.MB22_LOCAL_TARGET,
                tables.MB21_LOCAL_CONTROL,
                tables.FD_RB2_CAMPAIGNS_USERS,
                tables.OFF_LIMIT_CAMPAIGNS_USERS,
            ):
                rows = tables.user_rows(table, split, REQUEST, "C000000001", now)
                started = time.perf_counter()
                written = deployment.replace_campaign_rows(table, "C000000001", rows)
                timings[table.name] = (written, time.perf_counter() - started)
            targeting = sum(timings[t][1] for t in ("mb22_local_target", "mb21_local_control"))
            rows_targeting = sum(timings[t][0] for t in ("mb22_local_target", "mb21_local_control"))
            total_rows = sum(w for w, _ in timings.values())
            total_s = sum(s for _, s in timings.values())
            print(
                f"{attempt}: "
                + ", ".join(f"{t} {w:,} rows {s:.2f} s" for t, (w, s) in timings.items())
            )
            print(
                f"  target+control {rows_targeting:,} rows in {targeting:.2f} s "
                f"({rows_targeting / targeting:,.0f} rows/s; target <= 5 s); all four user "
                f"tables {total_rows:,} rows in {total_s:.2f} s ({total_rows / total_s:,.0f} "
                "rows/s)"
            )


if __name__ == "__main__":
    main()
