"""`campaigns run-pending` and `campaigns sequences status|send-due|cancel` in-process, on a
data directory of its own (DuckDB file, landing zone, outbox, the instance the runs go to)."""

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign_pipelines.cli import main
from campaign_pipelines_tests.sequences.test_core import record

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "data"
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(directory))
    monkeypatch.setenv("SEQUENCE_TIMING", "testing")
    monkeypatch.setenv("UNSUBSCRIBE_SECRET", "cli-secret")
    landing = directory / "landing" / "signups"
    landing.mkdir(parents=True)
    path = landing / "batch.jsonl"
    path.write_text("\n".join([record("a@x.org", T0, red=2), record("b@x.org", T0, orange=2),
                               record("A@X.org", T0 + timedelta(seconds=3))]) + "\n")
    os.utime(path, (0, 0))
    return directory


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_pending_signups_enrol_then_send_due_runs_the_clock_forward(data, capsys):
    assert main(["run-pending"]) == 0
    out = capsys.readouterr().out
    assert "enrolled_now              2" in out and "duplicates_now            1" in out
    assert list((data / "landing/signups/archive").glob("*.jsonl"))

    assert main(["sequences", "status", "A@x.org"]) == 0
    [enrollment] = _json(capsys)["enrollments"]
    assert enrollment["segment"] == "CRITICAL"
    assert [s["due_at"] for s in enrollment["sends"]] == [
        (T0 + timedelta(minutes=n)).isoformat() for n in range(7)]
    assert {s["state"] for s in enrollment["sends"]} == {"queued"}

    assert main(["sequences", "send-due", "--dry-run", "--now", "2026-12-01T09:01:30Z"]) == 0
    assert len(_json(capsys)["would_send"]) == 4
    assert main(["sequences", "cancel", "b@x.org"]) == 0
    capsys.readouterr()
    assert main(["sequences", "send-due", "--now", "2026-12-01T09:07:00Z"]) == 0
    body = _json(capsys)
    assert body["success"] and body["sent"] == 7
    assert len(list((data / "outbox").glob("*.eml"))) == 7
    assert main(["sequences", "status", "a@x.org"]) == 0
    assert {s["state"] for s in _json(capsys)["enrollments"][0]["sends"]} == {"sent"}
    assert main(["sequences", "status", "b@x.org"]) == 0
    cancelled = _json(capsys)["enrollments"][0]
    assert cancelled["status"] == "cancelled"
    assert {s["state"] for s in cancelled["sends"]} == {"suppressed"}
