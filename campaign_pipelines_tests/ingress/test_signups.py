"""The signup webhook over real HTTP: 202 only with the line durable in a complete landing file,
and every refusal (401, 413, 415, 422, a key given twice) with nothing written."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from campaign_pipelines.core.sequences.signups import SignupRecord
from campaign_pipelines.core.sequences.unsubscribe import unsubscribe_token
from campaign_pipelines.ingress.auth import Authenticator, signature
from campaign_pipelines_tests.ingress.server import (
    HMAC_SECRET,
    SIGNUP,
    UNSUBSCRIBE_SECRET,
    complete_lines,
    settled_bytes,
    wait_for_lines,
)

# On one xdist worker, one after another, with the other modules that use the package's
# `ingress` (ingress/conftest.py): each shared server then starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("ingress")


def _records(folder: Path) -> dict[str, SignupRecord]:
    records = [SignupRecord.model_validate_json(line) for line in complete_lines(folder)]
    return {record.signup_id: record for record in records}


def test_a_signup_is_accepted_and_lands_whole_in_a_complete_file(ingress):
    signups = ingress.landing / "signups"
    before = len(complete_lines(signups))
    for path in ("/webhooks/signups", "/webhook/christmas-signup"):
        answer = ingress.post(path, {**SIGNUP, "campaign": "christmas", "assessment": {"q": 1}})
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "accepted"
        signup_id = answer.json()["signup_id"]
        wait_for_lines(signups, before + 1)
        record = _records(signups)[signup_id]
        assert record.signup.email == "Ada.Lovelace@example.com"  # domain normalised
        assert (record.signup.sequence, record.signup.assessment) == ("christmas", {"q": 1})
        assert record.received_at.utcoffset() is not None
        before += 1
    log = ingress.log.read_text()
    assert f'"signup_id":"{signup_id}"' in log and '"status":202' in log
    assert "Lovelace" not in log and "@" not in log


def test_a_signed_body_is_accepted(ingress):
    body = json.dumps(SIGNUP).encode()
    stamp = str(int(time.time()))
    headers = {"X-Signature": signature(HMAC_SECRET, stamp, body), "X-Timestamp": stamp,
               "Content-Type": "application/json"}
    answer = ingress.client.post("/webhooks/signups", content=body, headers=headers)
    assert answer.status_code == 202, answer.text


def _refusals(ingress) -> list[tuple[int, object]]:
    body = json.dumps(SIGNUP).encode()
    now = int(time.time())
    stale = str(now - 301)
    signed = {"X-Signature": signature(HMAC_SECRET, str(now), body), "X-Timestamp": str(now),
              "Content-Type": "application/json"}
    post = ingress.client.post
    return [
        (401, post("/webhooks/signups", json=SIGNUP)),
        (401, post("/webhooks/signups", json=SIGNUP, headers={"Authorization": "Bearer nope"})),
        (401, post("/webhooks/signups", content=body + b" ", headers=signed)),  # not as signed
        (401, post("/webhooks/signups", content=body, headers={
            **signed, "X-Timestamp": stale, "X-Signature": signature(HMAC_SECRET, stale, body)})),
        (413, ingress.post(body={**SIGNUP, "assessment": {"essay": "x" * 70_000}})),
        (413, ingress.post(content=iter([body[:-1], b" " * 70_000, b"}"]),  # chunked, no length
                           headers={"Content-Type": "application/json"})),
        (415, ingress.post(content=body, headers={"Content-Type": "text/plain"})),
        (400, ingress.post(content=b'{"email": ', headers={"Content-Type": "application/json"})),
        (422, ingress.post(content=b'{"email": "a@example.com", "email": "b@example.com"}',
                           headers={"Content-Type": "application/json"})),
        (422, ingress.post(body={**SIGNUP, "email": "not-an-address"})),
        (422, ingress.post(body={**SIGNUP, "red_systems": -1})),
        (422, ingress.post(body={**SIGNUP, "favourite_colour": "red"})),
        (422, ingress.post(body=[SIGNUP])),
    ]


def test_refusals_name_the_problem_and_write_nothing(ingress):
    signups = ingress.landing / "signups"
    written = settled_bytes(signups)  # any journal of an earlier test completed
    answers = _refusals(ingress)
    assert [answer.status_code for _, answer in answers] == [status for status, _ in answers]
    fields = [answer.json()["problems"][0]["field"] for _, answer in answers]
    assert fields[4:] == ["<body>", "<body>", "Content-Type", "<body>", "email", "email",
                          "red_systems", "favourite_colour", "<body>"]
    assert "given twice" in answers[8][1].json()["message"]
    assert "stale" not in answers[3][1].text and "300 s" in answers[3][1].json()["message"]
    assert all(problem["fix"] for _, answer in answers for problem in answer.json()["problems"])
    assert settled_bytes(signups) == written


def test_health_says_what_is_configured_and_no_secret(ingress):
    answer = ingress.client.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["sequence_timing"] == "testing"
    assert body["integrations"] == {"email_provider": "outbox", "alert_webhook": True,
                                    "tracking_sink": None}
    for secret in ("hook-secret-value", "test-ingress-token", HMAC_SECRET, UNSUBSCRIBE_SECRET):
        assert secret not in answer.text


def test_unsubscribe_with_a_good_token_writes_a_suppression_and_a_forged_one_does_not(ingress):
    folder = ingress.landing / "unsubscribes"
    good = unsubscribe_token(UNSUBSCRIBE_SECRET, "Grace@Example.com")
    forged = unsubscribe_token("another secret", "grace@example.com")
    assert ingress.client.get("/unsubscribe", params={"token": forged}).status_code == 403
    assert ingress.client.get("/unsubscribe").status_code == 400
    one_click = {"content": b"List-Unsubscribe=One-Click",
                 "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    assert ingress.client.post(f"/unsubscribe?token={forged}", **one_click).status_code == 403
    assert settled_bytes(folder) == 0
    page = ingress.client.get("/unsubscribe", params={"token": good})
    assert page.status_code == 200 and "grace@example.com" in page.text
    clicked = ingress.client.post(f"/unsubscribe?token={good}", **one_click)
    assert clicked.status_code == 200
    lines = [json.loads(line) for line in wait_for_lines(folder, 2)]
    assert [(line["address_key"], line["source"]) for line in lines] == [
        ("grace@example.com", "link"), ("grace@example.com", "one-click")]
    assert "grace" not in ingress.log.read_text()


def test_a_worker_loads_neither_dagster_nor_a_warehouse_driver():
    code = ("import sys, campaign_pipelines.cli\n"
            "from campaign_pipelines.ingress.app import create_app\n"
            "from campaign_pipelines.ingress.settings import IngressSettings\n"
            "create_app(IngressSettings(ingress_token='x'))\n"
            "print(sorted({'dagster', 'duckdb', 'oracledb'} & set(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_timestamp_of_unicode_digits_is_refused_not_a_server_error():
    authenticator = Authenticator(None, SecretStr(HMAC_SECRET))
    headers = {"x-signature": signature(HMAC_SECRET, "²", b"{}"), "x-timestamp": "²"}
    assert "X-Timestamp" in authenticator.refusal(headers, b"{}")
