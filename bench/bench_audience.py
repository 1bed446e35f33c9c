"""Audience benchmark: a 10M-row uploaded list against a 10M-customer bank.

Prints figures; asserts nothing. Each measured phase runs in a fresh child process so that its
peak RSS is its own (generating the bank does not count against the pipeline).

    python bench/bench_audience.py [--customers 10000000] [--upload-rows 10000000]

Phases:
  setup     synthetic bank into DuckDB, reference refresh, the upload CSV (not timed as targets)
  filter    the five filters alone, on 10M validated IINs, reading the stored Parquet
  pipeline  upload file -> audience_split through a real Dagster run (IO manager included)
  pandas    the same filters written the way a hand-made pandas script does them
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTERS = {
    "devices": ["android", "iOS"],
    "push_streams": ["Маркет", "Переводы"],
    "mau_only": True,
    "products": ["Кредитная карта", "Депозит"],
}


def _peak_rss_mb() -> float:
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak across fork+exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(data_dir: Path, customers: int, upload_rows: int) -> dict:

    from campaign_pipelines.demo.build import build_demo

    started = time.perf_counter()
    summary = build_demo(data_dir, customers=customers)
    built = time.perf_counter() - started
    location = _location(data_dir)
    from campaign_pipelines.service import run_job

    started = time.perf_counter()
    assert run_job(location, "reference_refresh_job").success
    refreshed = time.perf_counter() - started
    customers_frame = location.warehouse.adapter().fetch("SELECT iin FROM sources.customers")
    upload = customers_frame.sample(
        n=upload_rows, with_replacement=upload_rows > customers_frame.height, seed=11
    ).rename({"iin": "IIN"})
    upload.write_csv(data_dir / "landing" / "uploads" / "bench_10m.csv")
    request = {
        "campaign_type": "RB1",
        "metadata": {
            "campaign_name": "Bench",
            "date_start": "2026-12-01",
            "date_end": "2026-12-31",
        },
        "user_files": ["bench_10m.csv"],
        "filter_config": FILTERS,
        "control_group": {"share": 0.1, "stratify_by": ["device", "mau"]},
    }
    (data_dir / "bench_request.json").write_text(json.dumps(request, ensure_ascii=False))
    return {
        "bank_rows": summary["tables"],
        "build_demo_s": round(built, 1),
        "reference_refresh_s": round(refreshed, 1),
        "upload_rows": upload.height,
    }


def _location(data_dir: Path):
    import dagster as dg

    # The bench's own instance: its runs belong with its data, not in the demo's history.
    os.environ["CAMPAIGN_DATA_DIR"] = str(data_dir)
    os.environ["DAGSTER_HOME"] = str(data_dir.resolve() / "dagster_home")
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    from campaign_pipelines.definitions import defs
    from campaign_pipelines.service import Location

    return Location(defs=defs(), instance=dg.DagsterInstance.get())


def _profile(data_dir: Path):
    import polars as pl

    from campaign_pipelines.core.profile import Vocabulary

    base = data_dir / "assets" / "reference"
    profile = pl.scan_parquet(base / "customer_profile" / "__all__.parquet")
    return profile, Vocabulary(pl.read_parquet(base / "vocabulary" / "__all__.parquet"))


def filter_phase(data_dir: Path) -> dict:
    import polars as pl

    from campaign_pipelines.adapters.reference_config import (
        default_config_path,
        load_reference_config,
    )
    from campaign_pipelines.core.audience import filter_audience
    from campaign_pipelines.core.blacklist import applied_rows
    from campaign_pipelines.core.requests import FilterConfig

    upload = pl.read_csv(data_dir / "landing" / "uploads" / "bench_10m.csv", infer_schema=False)
    valid = upload.select(iin="IIN", iin_key=pl.col("IIN").cast(pl.Int64)).unique("iin_key")
    blacklists = load_reference_config(default_config_path("duckdb")).blacklist_sources
    started = time.perf_counter()
    profile, vocabulary = _profile(data_dir)
    snapshot = pl.scan_parquet(data_dir / "assets" / "reference" / "blacklist" / "__all__.parquet")
    audience, stats = filter_audience(
        valid, FilterConfig(**FILTERS), profile, vocabulary, blacklists,
        blacklisted=applied_rows(snapshot, blacklists),
    )
    seconds = time.perf_counter() - started
    return {
        "filter_s": round(seconds, 2),
        "input": valid.height,
        "final": audience.height,
        "funnel": stats,
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def pipeline_phase(data_dir: Path) -> dict:
    from campaign_pipelines.responses import failure_messages
    from campaign_pipelines.service import register, run_job

    location = _location(data_dir)
    started = time.perf_counter()
    registered = register(location, data_dir / "bench_request.json")
    result = run_job(location, "audience_job", registered.admitted.key, tags=registered.tags,
                     run_config=registered.run_config)
    seconds = time.perf_counter() - started
    if not result.success:  # a failed run's time is not a figure
        raise SystemExit("audience_job failed: " + "; ".join(failure_messages(result)))
    return {
        "end_to_end_s": round(seconds, 2),
        "success": result.success,
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def pandas_phase(data_dir: Path) -> dict:
    """What a hand-written script does: string IINs, ``isin`` against Python-side sets."""
    import pandas as pd

    base = data_dir / "assets" / "reference"

    def iins(name: str, column: str, values) -> pd.Series:
        frame = pd.read_parquet(base / name / "__all__.parquet")
        if values is not None:
            frame = frame[frame[column].isin(values)]
        return frame["iin_key"].astype(str).str.zfill(12)

    users = pd.read_csv(data_dir / "landing" / "uploads" / "bench_10m.csv", dtype=str)["IIN"]
    users = users.drop_duplicates()
    started = time.perf_counter()  # like filter_phase: reading the stored reference counts
    blacklist, devices = (
        iins("blacklist", "source", None),
        iins("devices", "device", FILTERS["devices"]),
    )
    streams = iins("push_preferences", "stream", FILTERS["push_streams"])
    mau_frame = pd.read_parquet(base / "mau" / "__all__.parquet")
    latest = mau_frame[mau_frame["month"] == mau_frame["month"].max()]
    mau = latest["iin_key"].astype(str).str.zfill(12)
    products = iins("products", "product", FILTERS["products"])
    users = users[~users.isin(blacklist)]
    users = users[users.isin(devices)]
    users = users[users.isin(streams)]
    users = users[users.isin(mau)]
    users = users[users.isin(products)]
    seconds = time.perf_counter() - started
    return {
        "pandas_filter_s": round(seconds, 2),
        "final": int(users.size),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


PHASES = {"filter": filter_phase, "pipeline": pipeline_phase, "pandas": pandas_phase}


def _child(phase: str, data_dir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench phase {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--upload-rows", type=int, default=10_000_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--phase", choices=sorted(PHASES))
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.data_dir), ensure_ascii=False, default=str))
        return
    print(f"setup: {setup(args.data_dir, args.customers, args.upload_rows)}", flush=True)
    results = {phase: _child(phase, args.data_dir) for phase in PHASES}
    for phase, figures in results.items():
        print(f"{phase}: {figures}")
    ratio = results["pandas"]["pandas_filter_s"] / max(results["filter"]["filter_s"], 1e-9)
    print(
        f"filter {results['filter']['filter_s']} s (target <= 2 s); "
        f"end to end {results['pipeline']['end_to_end_s']} s (target <= 15 s); "
        f"peak RSS {results['pipeline']['peak_rss_mb']} MB (target <= 3072 MB); "
        f"pandas isin filter is {ratio:.1f}x slower"
    )


if __name__ == "__main__":
    main()
