"""The benchmarks still run (tiny sizes; no timing is asserted: figures come from `make bench`)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "script",
    [
        ["bench_audience.py", "--customers", "20000", "--upload-rows", "20000"],
        ["bench_deploy.py", "--target", "10000", "--control", "1000"],
        ["bench_streaks.py", "--users", "10000"],
    ],
)
def test_benchmark_runs(script, tmp_path):
    extra = ["--data-dir", str(tmp_path / "bench")] if script[0] == "bench_audience.py" else []
    out = subprocess.run([sys.executable, str(BENCH / script[0]), *script[1:], *extra],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert " s" in out.stdout  # it printed figures
