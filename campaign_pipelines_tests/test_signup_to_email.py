"""The whole signup path on real parts: `campaigns serve` on loopback takes the webhooks and an
unsubscribe click, `campaigns run-pending` admits what landed, `campaigns sequences send-due`
runs the clock seven minutes forward, and the outbox holds what each person gets."""

import email
import json
import os
from datetime import UTC, datetime, timedelta
from email import policy

from campaign_pipelines.cli import main
from campaign_pipelines.core.sequences.unsubscribe import unsubscribe_token
from campaign_pipelines_tests.ingress.server import UNSUBSCRIBE_SECRET, Ingress

SIGNUPS = [
    {"email": "Critical@Example.com", "first_name": "Cy", "red_systems": 2},
    {"email": "urgent@example.com", "first_name": "Uma", "red_systems": 1},
    {"email": "optimize@example.com", "first_name": "Oz", "orange_systems": 1},
    {"email": "leaving@example.com", "first_name": "Lee", "orange_systems": 2},
    {"email": "CRITICAL@example.com", "first_name": "Cy", "red_systems": 2},  # a duplicate
]
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def test_webhook_signups_become_seven_emails_each_and_an_unsubscribe_stops_them(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    ingress = Ingress(data, workers=1)
    try:
        for body in SIGNUPS:
            answer = ingress.post(body=body)
            assert answer.status_code == 202 and answer.json()["status"] == "accepted"
        token = unsubscribe_token(UNSUBSCRIBE_SECRET, "leaving@example.com")
        assert ingress.client.post(f"/unsubscribe?token={token}", **ONE_CLICK).status_code == 200
    finally:
        ingress.stop()  # its journals are completed on the way out
    accepted_at = datetime.now(UTC)
    for landed in (data / "landing").glob("*/*.jsonl"):  # past the landing's quiet period
        os.utime(landed, (0, 0))

    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(data))
    monkeypatch.setenv("SEQUENCE_TIMING", "testing")
    monkeypatch.setenv("UNSUBSCRIBE_SECRET", UNSUBSCRIBE_SECRET)
    assert main(["run-pending"]) == 0
    capsys.readouterr()
    later = (accepted_at + timedelta(minutes=7)).isoformat()
    assert main(["sequences", "send-due", "--now", later]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["sent"] == 21

    messages = [email.message_from_bytes(path.read_bytes(), policy=policy.default)
                for path in (data / "outbox").glob("*.eml")]
    per_address: dict[str, int] = {}
    for message in messages:
        per_address[message["To"].lower()] = per_address.get(message["To"].lower(), 0) + 1
    assert per_address == {"critical@example.com": 7, "urgent@example.com": 7,
                           "optimize@example.com": 7}  # one enrollment for the duplicate,
    # none for the address that unsubscribed
