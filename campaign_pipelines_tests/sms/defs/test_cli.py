"""`campaigns sms ...` and `campaigns run-pending` in-process on a data directory of their own
(DuckDB file, landing zone, outbox, the instance the runs are recorded in)."""

import json
from pathlib import Path

import pytest

from campaign_pipelines.cli import main
from campaign_pipelines_tests.sms.defs.common import (
    AFTER,
    PHONES,
    campaign_text,
    landed,
    outbox,
    upload,
)

MORE = PHONES + "".join(f"+7701234570{n},Клиент\n" for n in range(5))  # 8 valid in all


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "data"
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(directory))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("CAMPAIGN_WAREHOUSE", raising=False)
    upload(directory, text=MORE)
    return directory


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_create_limit_pause_resume_show(data, tmp_path, capsys):
    path = tmp_path / "dec.json"
    path.write_text(campaign_text())
    assert main(["sms", "create", str(path)]) == 0
    created = _json(capsys)
    assert created["outcome"] == "created" and created["status"] == "Scheduled"
    assert main(["sms", "pause", "dec"]) == 2  # only an Active campaign pauses
    refused = _json(capsys)
    assert refused["status"] == "Scheduled" and "cannot pause" in refused["message"]

    assert main(["sms", "run", "--campaign", "dec", "--limit", "2", "--now", AFTER]) == 0
    ran = _json(capsys)
    assert ran["success"] and ran["sent"] == 2 and ran["left_queued"] == 6
    assert main(["sms", "pause", "dec"]) == 0
    assert _json(capsys)["status"] == "Paused"
    assert main(["sms", "run", "--now", AFTER]) == 0
    assert _json(capsys)["sent"] == 0 and len(outbox(data)) == 2
    assert main(["sms", "run", "--dry-run", "--campaign", "dec", "--now", AFTER]) == 0
    assert _json(capsys)["would_send"] == 0  # Paused: nothing would be sent

    assert main(["sms", "resume", "dec"]) == 0
    capsys.readouterr()
    assert main(["sms", "run", "--campaign", "dec", "--now", AFTER]) == 0
    assert _json(capsys)["sent"] == 6
    assert main(["sms", "show", "dec"]) == 0
    shown = _json(capsys)
    assert shown["status"] == "Completed" and shown["sent"] == 8
    assert shown["invalid_numbers"] == 1 and shown["duplicate_numbers"] == 1
    assert shown["last_run_result"] == "sent 8 of 8" and shown["delivery_rate"] == 0.0
    assert sorted({m["to"] for m in outbox(data)}) == sorted(m["to"] for m in outbox(data))
    assert main(["sms", "cancel", "dec"]) == 2
    assert _json(capsys)["status"] == "Completed"
    assert main(["sms", "show", "nope"]) == 2


def test_run_pending_admits_an_sms_campaign_file(data, capsys):
    landed(data, "sms", "dec.yaml", campaign_text())
    landed(data, "sms", "bad.json", campaign_text("bad", colour="red"))
    assert main(["run-pending"]) == 2  # one file refused
    out = capsys.readouterr().out
    assert "bad.json → landing/sms/rejected/bad.json.error.json (colour:" in out
    assert "dec.yaml: created" in out
    assert main(["sms", "list"]) == 0
    assert [c["status"] for c in _json(capsys)["campaigns"]] == ["Scheduled"]
    assert list((data / "landing/sms/archive").glob("dec*.yaml"))
