"""The SMS endpoints on a real ingress: Twilio's receipts and inbound messages land as SmsEvent
lines (signed with X-Twilio-Signature over the public URL when TWILIO_AUTH_TOKEN is set, the
project's own token otherwise), and pause/resume/cancel land command files the command
parser accepts. Refusals write nothing; the access log holds no number and no text."""

import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from campaign_pipelines.adapters.sms.twilio_signature import twilio_signature
from campaign_pipelines.core.commands import SmsCancelCommand, SmsPauseCommand, parse_command
from campaign_pipelines.core.sms.events import SmsEvent, parse_events
from campaign_pipelines_tests.ingress.server import (
    HMAC_SECRET,
    TOKEN,
    Ingress,
    complete_lines,
    settled_bytes,
    wait_for_lines,
)

# On one xdist worker, one after another, with the other modules that use the package's
# `ingress` (ingress/conftest.py): each shared server then starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("ingress")

TWILIO_TOKEN = "test-twilio-auth-token-0123"
PUBLIC_URL = "https://hooks.bank.example/ingress"  # not the loopback URL the server sees
SID = "SM" + "0123456789abcdef" * 2
STATUS, INBOUND = "/webhooks/sms/status", "/webhooks/sms/inbound"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def twilio_ingress(tmp_path_factory: pytest.TempPathFactory):
    """An ingress that takes the SMS webhooks from Twilio only."""
    server = Ingress(tmp_path_factory.mktemp("sms-ingress") / "data",
                     TWILIO_AUTH_TOKEN=TWILIO_TOKEN, CAMPAIGN_PUBLIC_URL=PUBLIC_URL)
    yield server
    server.stop()


def signed_post(server: Ingress, path: str, fields: dict[str, str], *, token: str = TWILIO_TOKEN,
                url: str | None = None, headers: dict[str, str] | None = None):
    """A POST as Twilio makes it: the form, signed over the public URL and the fields."""
    signature = twilio_signature(token, url or PUBLIC_URL + path, fields)
    return server.client.post(path, content=urlencode(fields).encode(), headers={
        **FORM, "X-Twilio-Signature": signature, **(headers or {})})


def bearer_post(server: Ingress, path: str, fields: dict[str, str]):
    return server.client.post(path, content=urlencode(fields).encode(),
                              headers={**FORM, **server.post_headers()})


def events_after(folder: Path, before: int, count: int) -> list[SmsEvent]:
    """The ``count`` events landed after the first ``before`` lines (each a valid model)."""
    lines = wait_for_lines(folder, before + count)
    assert len(lines) == before + count, lines
    return [SmsEvent.model_validate_json(line) for line in lines[before:]]


def receipt(status: str = "delivered", **more: str) -> dict[str, str]:
    return {"MessageSid": SID, "MessageStatus": status, "SmsStatus": status, "To": "+77012345678",
            "From": "MyBank", "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", **more}


def test_a_signed_status_callback_lands_one_receipt_line(twilio_ingress):
    folder = twilio_ingress.landing / "sms_events"
    before = len(complete_lines(folder))
    answer = signed_post(twilio_ingress, STATUS, receipt())
    assert answer.status_code == 204, answer.text
    # A StatusCallback URL with a query string is signed with it.
    failed = receipt("undelivered", ErrorCode="30003")
    query = "?campaign=dec-cashback"
    answer = signed_post(twilio_ingress, STATUS + query, failed, url=PUBLIC_URL + STATUS + query)
    assert answer.status_code == 204, answer.text
    delivered, undelivered = events_after(folder, before, 2)
    assert (delivered.kind, delivered.provider, delivered.provider_message_id) == (
        "status", "twilio", SID)
    assert (delivered.phone_e164, delivered.status, delivered.error_code) == (
        "+77012345678", "delivered", None)
    assert (delivered.body, delivered.reply_kind) == (None, None)
    assert delivered.received_at.tzinfo is not None
    assert (undelivered.status, undelivered.error_code) == ("undelivered", "30003")
    rows, problems = parse_events(b"".join(p.read_bytes() for p in sorted(folder.glob("*.jsonl"))))
    assert problems == [] and rows.height == before + 2


def test_the_same_callback_twice_has_one_event_id(twilio_ingress):
    folder = twilio_ingress.landing / "sms_events"
    before = len(complete_lines(folder))
    fields = receipt("sent", MessageSid="SM" + "f" * 32)
    for _ in range(2):
        assert signed_post(twilio_ingress, STATUS, fields).status_code == 204
    first, again = events_after(folder, before, 2)
    assert first.event_id == again.event_id
    other = receipt("delivered", MessageSid="SM" + "f" * 32)
    assert signed_post(twilio_ingress, STATUS, other).status_code == 204
    [delivered] = events_after(folder, before + 2, 1)
    assert delivered.event_id != first.event_id


@pytest.mark.parametrize("headers", [
    {"X-Twilio-Signature": twilio_signature("another account's token", PUBLIC_URL + STATUS,
                                            receipt())},
    # Signed over the URL the server sees, not the public one Twilio calls.
    {"X-Twilio-Signature": "{loopback}"},
    # Signed over other fields: the body was changed on the way.
    {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, PUBLIC_URL + STATUS,
                                            receipt("failed"))},
    {"X-Twilio-Signature": "not base64 \u00ff"},
    {"Authorization": f"Bearer {TOKEN}"},  # with a Twilio token set, only Twilio's signature
    {},
])
def test_a_forged_or_missing_signature_is_401_and_nothing_is_written(twilio_ingress, headers):
    folder = twilio_ingress.landing / "sms_events"
    written = settled_bytes(folder)  # earlier tests' journals completed
    if headers.get("X-Twilio-Signature") == "{loopback}":
        headers = {"X-Twilio-Signature": twilio_signature(
            TWILIO_TOKEN, twilio_ingress.base + STATUS, receipt())}
    headers = {k: v.encode("latin-1") for k, v in headers.items()}
    for path in (STATUS, INBOUND):
        answer = twilio_ingress.client.post(path, content=urlencode(receipt()).encode(),
                                            headers={**FORM, **headers})
        assert answer.status_code == 401, answer.text
        assert answer.json()["problems"][0]["field"] == "X-Twilio-Signature"
    assert settled_bytes(folder) == written


def test_without_a_twilio_token_the_project_s_token_or_hmac_authenticates(ingress):
    from campaign_pipelines.ingress.auth import signature

    folder = ingress.landing / "sms_events"
    before = len(complete_lines(folder))
    assert bearer_post(ingress, STATUS, receipt("sent")).status_code == 204
    body = urlencode(receipt("failed", ErrorCode="21610")).encode()
    stamp = str(int(time.time()))
    signed = ingress.client.post(STATUS, content=body, headers={
        **FORM, "X-Timestamp": stamp, "X-Signature": signature(HMAC_SECRET, stamp, body)})
    assert signed.status_code == 204, signed.text
    sent, failed = events_after(folder, before, 2)
    assert (sent.provider, sent.status, failed.status, failed.error_code) == (
        "project", "sent", "failed", "21610")
    written = settled_bytes(folder)
    unsigned = ingress.client.post(STATUS, content=body, headers=FORM)
    assert unsigned.status_code == 401
    twilio_signed = ingress.client.post(STATUS, content=body, headers={
        **FORM, "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, PUBLIC_URL + STATUS,
                                                       receipt("failed"))})
    assert twilio_signed.status_code == 401  # no Twilio token here: its signature proves nothing
    assert settled_bytes(folder) == written  # the two refusals wrote nothing, even unfinished
    assert len(complete_lines(folder)) == before + 2


def inbound(body: str, sender: str = "+77015550101", sid: str = SID) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "From": sender, "To": "+77000000000",
            "Body": body, "NumMedia": "0", "AccountSid": "AC" + "0" * 32}


def test_inbound_stop_stop_in_russian_start_and_a_reply_are_classified(twilio_ingress):
    folder = twilio_ingress.landing / "sms_events"
    before = len(complete_lines(folder))
    bodies = ["STOP", "  Стоп ", "start", "Тоқтату!", "When is my cashback paid?", ""]
    for number, text in enumerate(bodies):
        answer = signed_post(twilio_ingress, INBOUND, inbound(text, sid=f"SM{number:032x}"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/xml")
        assert answer.text.endswith("<Response/>")
    events = events_after(folder, before, len(bodies))
    assert [e.reply_kind for e in events] == [
        "opt_out", "opt_out", "opt_in", "opt_out", "reply", "reply"]
    assert [e.body for e in events] == bodies
    assert {(e.kind, e.provider, e.phone_e164, e.status) for e in events} == {
        ("inbound", "twilio", "+77015550101", None)}


def test_an_inbound_from_a_number_no_sms_can_reach_is_kept_without_a_number(ingress):
    folder = ingress.landing / "sms_events"
    before = len(complete_lines(folder))
    answer = bearer_post(ingress, INBOUND, inbound("stop", sender="+77272123456"))
    assert answer.status_code == 200
    [event] = events_after(folder, before, 1)
    assert (event.phone_e164, event.reply_kind) == (None, "opt_out")
    assert "fixed-line" in event.phone_problem


@pytest.mark.parametrize(("path", "fields", "field"), [
    (STATUS, {k: v for k, v in receipt().items() if k != "MessageSid"}, "MessageSid"),
    (INBOUND, {k: v for k, v in inbound("STOP").items() if k != "MessageSid"}, "MessageSid"),
    (STATUS, {k: v for k, v in receipt().items() if k != "To"}, "To"),
    (INBOUND, {k: v for k, v in inbound("STOP").items() if k != "From"}, "From"),
    (STATUS, receipt("lost"), "MessageStatus"),
    (STATUS, receipt(ErrorCode="30003; drop table"), "ErrorCode"),
    (STATUS, receipt(MessageSid="SM/../../etc"), "MessageSid"),
])
def test_a_bad_form_is_422_naming_the_field_and_nothing_is_written(ingress, path, fields, field):
    folder = ingress.landing / "sms_events"
    written = settled_bytes(folder)
    answer = bearer_post(ingress, path, fields)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["problems"]
    assert problems[0]["field"] == field and problems[0]["fix"]
    assert settled_bytes(folder) == written


def test_bodies_that_are_not_one_utf8_form_within_the_limit_are_refused(ingress):
    folder = ingress.landing / "sms_events"
    written = settled_bytes(folder)
    auth = ingress.post_headers()
    too_large = ingress.client.post(STATUS, headers={**FORM, **auth},
                                    content=urlencode({**receipt(), "Body": "x" * 70_000}))
    assert too_large.status_code == 413
    as_json = ingress.client.post(STATUS, headers=auth, json=receipt())
    assert as_json.status_code == 415 and as_json.json()["problems"][0]["field"] == "Content-Type"
    twice = ingress.client.post(STATUS, headers={**FORM, **auth},
                                content=urlencode(receipt()) + "&To=%2B77019999999")
    assert twice.status_code == 422 and twice.json()["problems"][0]["field"] == "To"
    latin = ingress.client.post(STATUS, headers={**FORM, **auth},
                                content=urlencode(receipt()).encode() + b"&Body=%FF\xff")
    assert latin.status_code == 400
    assert settled_bytes(folder) == written


@pytest.mark.parametrize(("action", "model"), [
    ("pause", SmsPauseCommand), ("resume", None), ("cancel", SmsCancelCommand)])
def test_pause_resume_and_cancel_land_commands_the_parser_accepts(ingress, action, model):
    answer = ingress.client.post(f"/sms/campaigns/dec-cashback_2/{action}",
                                 headers=ingress.post_headers())
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["status"], body["command"], body["campaign"]) == (
        "accepted", f"sms_{action}", "dec-cashback_2")
    assert body["file"].startswith(f"sms_{action}-dec-cashback_2-")
    command = parse_command((ingress.landing / "commands" / body["file"]).read_bytes())
    assert (command.command, command.campaign, command.lifecycle) == (
        f"sms_{action}", "dec-cashback_2", action)
    if model is not None:
        assert isinstance(command, model)


@pytest.mark.parametrize("name", ["Dec-Cashback", "dec%0A", "-dec", "d" * 65, "dec.cashback",
                                  "%D0%B0%D0%BA%D1%86%D0%B8%D1%8F"])
def test_a_name_that_is_no_campaign_name_is_422_and_nothing_is_written(ingress, name):
    commands = ingress.landing / "commands"
    before = set(commands.iterdir()) if commands.exists() else set()
    answer = ingress.client.post(f"/sms/campaigns/{name}/pause", headers=ingress.post_headers())
    assert answer.status_code == 422, answer.text
    assert answer.json()["problems"][0]["field"] == "campaign"
    assert (set(commands.iterdir()) if commands.exists() else set()) == before


def test_the_commands_need_the_project_s_authentication(ingress, twilio_ingress):
    for server in (ingress, twilio_ingress):
        answer = server.client.post("/sms/campaigns/dec-cashback/pause")
        assert answer.status_code == 401
        assert server.client.post("/sms/campaigns/dec-cashback/cancel",
                                  headers=server.post_headers()).status_code == 202


def test_no_phone_number_or_message_text_in_the_access_log(twilio_ingress):
    folder = twilio_ingress.landing / "sms_events"
    before = len(complete_lines(folder))
    secret_text = "Please call me back about the loan"
    answer = signed_post(twilio_ingress, INBOUND,
                         inbound(secret_text, sender="+77017654321", sid="SM" + "e" * 32))
    assert answer.status_code == 200
    events_after(folder, before, 1)
    log = twilio_ingress.log.read_text()
    assert f'"path":"{INBOUND}"' in log and '"status":200' in log
    for private in ("7017654321", "765 43 21", "call me back", "+7701"):
        assert private not in log


def test_health_says_twilio_signatures_are_checked_and_shows_no_token(twilio_ingress, ingress):
    answer = twilio_ingress.client.get("/health")
    assert answer.json()["authentication"]["twilio_signature"] is True
    assert TWILIO_TOKEN not in answer.text
    assert ingress.client.get("/health").json()["authentication"]["twilio_signature"] is False
