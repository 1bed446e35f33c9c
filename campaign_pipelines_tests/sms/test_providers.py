"""The SMS providers against real files and a loopback fake Twilio: what each promises in
adapters/sms/protocol.py, and how Twilio's answers map onto it."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from campaign_pipelines.adapters.sequence_sender import SendRetry
from campaign_pipelines.adapters.sms import twilio as twilio_module
from campaign_pipelines.adapters.sms.outbox import SmsOutbox
from campaign_pipelines.adapters.sms.protocol import (
    SmsMessage,
    SmsProvider,
    SmsProviderDown,
    SmsRefused,
)
from campaign_pipelines.adapters.sms.twilio import TwilioProvider, TwilioSetupRefused
from campaign_pipelines.adapters.sms.twilio_signature import (
    SIGNATURE_HEADER,
    twilio_signature,
    valid_signature,
)
from campaign_pipelines_tests.fakes.twilio_api import FakeTwilioApi

PHONE = "+77011234567"
FAST = SendRetry(attempts=3, wait_initial_s=0.01, wait_max_s=0.02, retry_after_cap_s=2.0)


def message(to: str = PHONE, key: str = "sms-0001", body: str = "Кешбэк 5% до 31.12",
            sender: str = "+15005550006", campaign: str = "dec-cashback",
            callback: str | None = None) -> SmsMessage:
    return SmsMessage(to=to, body=body, sender=sender, campaign=campaign, idempotency_key=key,
                      status_callback=callback)


@pytest.fixture
def api():
    with FakeTwilioApi() as fake:
        yield fake


@pytest.fixture
def twilio(api: FakeTwilioApi):
    with TwilioProvider(api.account_sid, api.auth_token, base_url=api.url, timeout=0.3,
                        retry=FAST) as provider:
        yield provider


def _no_secrets(text: str, api: FakeTwilioApi) -> None:
    assert api.auth_token not in text and api.account_sid not in text and PHONE not in text


# -- outbox -----------------------------------------------------------------------------------
def test_outbox_appends_one_durable_line_per_message(tmp_path: Path):
    outbox: SmsProvider = SmsOutbox(tmp_path / "outbox" / "sms")
    accepted = outbox.send(message(callback="https://x.example/webhooks/sms/status"))
    outbox.send(message(to="+77017654321", key="sms-0002"))
    outbox.close()
    path = tmp_path / "outbox" / "sms" / "dec-cashback.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["to"] for r in rows] == [PHONE, "+77017654321"]
    assert rows[0]["body"] == "Кешбэк 5% до 31.12" and rows[0]["campaign"] == "dec-cashback"
    assert rows[0]["provider_message_id"] == accepted.provider_message_id
    assert {"sender", "idempotency_key", "accepted_at", "status_callback"} <= rows[0].keys()
    assert datetime.fromisoformat(rows[0]["accepted_at"]).tzinfo is not None
    assert path.stat().st_mode & 0o777 == 0o600


def test_outbox_second_send_of_a_key_returns_the_first_and_writes_nothing(tmp_path: Path):
    first = SmsOutbox(tmp_path)
    accepted = first.send(message())
    assert first.send(message(body="another text")) == accepted
    second = SmsOutbox(tmp_path)  # another process: its index is rebuilt from the file
    assert second.send(message()) == accepted
    first.send(message(key="sms-0002"))
    assert second.find_sent(message(key="sms-0002"), datetime.now(UTC)) is not None
    assert len((tmp_path / "dec-cashback.jsonl").read_text().splitlines()) == 2


def test_outbox_two_writers_on_one_campaign_write_each_key_once(tmp_path: Path):
    messages = [message(to=f"+7701{n:07d}", key=f"sms-{n:04d}") for n in range(300)]
    writers = [SmsOutbox(tmp_path), SmsOutbox(tmp_path)]  # two open files: as two processes
    answers: list[dict[str, str]] = [{}, {}]

    def send_all(index: int) -> None:
        for each in messages:
            answers[index][each.idempotency_key] = writers[index].send(each).provider_message_id

    threads = [threading.Thread(target=send_all, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "dec-cashback.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["idempotency_key"] for line in lines) == \
        [m.idempotency_key for m in messages]
    assert answers[0] == answers[1]


def test_outbox_find_sent_by_key(tmp_path: Path):
    outbox = SmsOutbox(tmp_path)
    assert outbox.find_sent(message(), datetime.now(UTC)) is None
    accepted = outbox.send(message())
    assert outbox.find_sent(message(), datetime.now(UTC) + timedelta(days=1)) == accepted
    assert outbox.find_sent(message(key="sms-0009"), datetime.now(UTC)) is None


def test_outbox_skips_a_torn_last_line_and_repairs_it_on_the_next_append(tmp_path: Path):
    SmsOutbox(tmp_path).send(message())
    path = tmp_path / "dec-cashback.jsonl"
    with path.open("ab") as file:
        file.write(b'{"to": "+7701765')  # a writer killed mid-line
    outbox = SmsOutbox(tmp_path)
    assert outbox.find_sent(message(key="sms-0002"), datetime.now(UTC)) is None
    outbox.send(message(key="sms-0002", to="+77017654321"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["idempotency_key"] for line in lines] == ["sms-0001", "sms-0002"]


def test_outbox_refuses_a_hand_edited_line_naming_the_file(tmp_path: Path):
    (tmp_path / "dec-cashback.jsonl").write_text('{"to": "+77011234567"}\n')
    with pytest.raises(SmsProviderDown, match=r"dec-cashback\.jsonl: the line at byte 0"):
        SmsOutbox(tmp_path).send(message())


def test_outbox_is_fast_enough_for_the_engine(tmp_path: Path):
    outbox = SmsOutbox(tmp_path)
    messages = [message(to=f"+7701{n:07d}", key=f"sms-{n:04d}") for n in range(2000)]
    started = time.perf_counter()
    for each in messages:
        outbox.send(each)
    assert 2000 / (time.perf_counter() - started) > 1000  # messages a second, fsync each


# -- Twilio: sending --------------------------------------------------------------------------
def test_twilio_posts_the_form_with_basic_auth(api: FakeTwilioApi, twilio: TwilioProvider):
    accepted = twilio.send(message(callback="https://x.example/webhooks/sms/status"))
    assert accepted.status == "queued" and accepted.provider_message_id.startswith("SM")
    assert api.sends() == [{"To": PHONE, "From": "+15005550006", "Body": "Кешбэк 5% до 31.12",
                            "StatusCallback": "https://x.example/webhooks/sms/status"}]
    assert api.messages[0]["sid"] == accepted.provider_message_id


def test_twilio_sends_through_a_messaging_service(api: FakeTwilioApi, twilio: TwilioProvider):
    service = "MG" + "a" * 32
    assert twilio.send(message(sender=service)).status == "accepted"
    assert api.sends()[0] == {"To": PHONE, "MessagingServiceSid": service,
                              "Body": "Кешбэк 5% до 31.12"}


def test_twilio_wrong_credentials_stop_the_run_naming_the_settings(api: FakeTwilioApi):
    with TwilioProvider(api.account_sid, "wrong", base_url=api.url, retry=FAST) as provider:
        with pytest.raises(TwilioSetupRefused, match="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
                           ) as raised:
            provider.send(message())
    assert isinstance(raised.value, SmsProviderDown) and api.messages == []
    assert "wrong" not in str(raised.value) and api.account_sid not in str(raised.value)
    assert api.calls["send"] == 1  # not retried


def test_twilio_21610_is_a_suppressing_refusal(api: FakeTwilioApi, twilio: TwilioProvider):
    api.refuse(PHONE, 21610)
    with pytest.raises(SmsRefused) as raised:
        twilio.send(message())
    assert raised.value.code == "21610" and raised.value.suppressed
    assert "unsubscribed recipient" in raised.value.message
    assert len(api.sends()) == 1


@pytest.mark.parametrize("code", [21211, 21614])
def test_twilio_invalid_or_landline_numbers_fail_without_suppression(
        api: FakeTwilioApi, twilio: TwilioProvider, code: int):
    api.refuse(PHONE, code)
    with pytest.raises(SmsRefused) as raised:
        twilio.send(message())
    assert raised.value.code == str(code) and not raised.value.suppressed
    _no_secrets(str(raised.value), api)  # 21211 quotes the number: masked


def test_twilio_429_waits_retry_after_then_sends(api: FakeTwilioApi, twilio: TwilioProvider):
    api.fail_next(1, status=429, retry_after=1)
    started = time.monotonic()
    assert twilio.send(message()).status == "queued"
    assert time.monotonic() - started >= 1.0
    assert len(api.messages) == 1


def test_twilio_a_retry_after_beyond_the_cap_is_not_waited(api: FakeTwilioApi,
                                                            twilio: TwilioProvider):
    api.fail_next(1, status=429, retry_after=3600)
    with pytest.raises(SmsProviderDown, match="HTTP 429"):
        twilio.send(message())
    assert api.messages == []


def test_twilio_5xx_is_looked_up_then_sent_once(api: FakeTwilioApi, twilio: TwilioProvider):
    api.fail_next(2, status=500)
    assert twilio.send(message()).provider_message_id == api.messages[0]["sid"]
    assert len(api.messages) == 1
    lookups = [r for r in api.requests if r[0] == "GET"]
    assert lookups and all(r[2]["To"] == PHONE for r in lookups)


def test_twilio_lost_answer_is_found_instead_of_sent_twice(api: FakeTwilioApi,
                                                           twilio: TwilioProvider):
    api.drop_next(1, after_accept=True)
    accepted = twilio.send(message())
    assert [m["sid"] for m in api.messages] == [accepted.provider_message_id]


def test_twilio_timeouts_end_in_provider_down_after_the_retries(api: FakeTwilioApi,
                                                                twilio: TwilioProvider):
    api.hang_next(3, seconds=2.0)
    api.hang_next(3, seconds=2.0, on="list")
    with pytest.raises(SmsProviderDown, match="no answer within 0.3 s") as raised:
        twilio.send(message())
    assert "look it up (find_sent) before sending again" in str(raised.value)
    assert raised.value.maybe_taken
    _no_secrets(str(raised.value), api)
    assert api.calls["send"] == 1  # the lookups timed out too: never a blind second POST


def test_twilio_refused_connection_is_retried_then_provider_down():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with TwilioProvider("AC" + "1" * 32, "token", base_url=f"http://127.0.0.1:{port}",
                        retry=FAST) as provider:
        with pytest.raises(SmsProviderDown, match="unreachable.*after 3 attempts") as raised:
            provider.send(message())
    assert "token" not in str(raised.value) and "1" * 32 not in str(raised.value)
    assert "find_sent" not in str(raised.value) and not raised.value.maybe_taken


# -- Twilio: find_sent ------------------------------------------------------------------------
def test_twilio_find_sent_matches_number_sender_body_and_time(api: FakeTwilioApi,
                                                               twilio: TwilioProvider):
    before = datetime.now(UTC) - timedelta(seconds=1)
    accepted = twilio.send(message())
    twilio.send(message(to="+77017654321", key="sms-0002"))
    assert twilio.find_sent(message(), before) == accepted  # still queued: no date_sent
    api.advance(accepted.provider_message_id, "sent")
    assert twilio.find_sent(message(), before).provider_message_id == \
        accepted.provider_message_id
    assert twilio.find_sent(message(body="Кешбэк 5% до 31.12!"), before) is None
    assert twilio.find_sent(message(sender="+15005550009"), before) is None
    assert twilio.find_sent(message(), datetime.now(UTC) + timedelta(seconds=30)) is not None
    assert twilio.find_sent(message(), datetime.now(UTC) + timedelta(seconds=62)) is None
    dated = [r[2] for r in api.requests if r[0] == "GET" and "DateSent>" in r[2]]
    assert dated[0]["DateSent>"] == (before - timedelta(seconds=60)).date().isoformat()


def test_twilio_find_sent_pages_through_next_page_uri(api: FakeTwilioApi,
                                                      twilio: TwilioProvider,
                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(twilio_module, "PAGE_SIZE", 2)
    since = datetime.now(UTC) - timedelta(seconds=1)
    target = twilio.send(message(body="the one"))
    for n in range(5):
        twilio.send(message(key=f"sms-{n}", body=f"other {n}"))
    for each in api.messages:
        api.advance(each["sid"], "delivered")
    assert twilio.find_sent(message(body="the one"), since).provider_message_id == \
        target.provider_message_id
    pages = [r[2] for r in api.requests if r[0] == "GET"]
    assert [p.get("Page", "0") for p in pages] == ["0", "1", "2"]


def test_twilio_find_sent_through_a_messaging_service(api: FakeTwilioApi,
                                                      twilio: TwilioProvider):
    service = "MG" + "b" * 32
    accepted = twilio.send(message(sender=service))
    found = twilio.find_sent(message(sender=service), datetime.now(UTC) - timedelta(seconds=5))
    assert found == accepted
    assert all("From" not in r[2] for r in api.requests if r[0] == "GET")


def test_twilio_find_sent_retries_the_list_then_reports_down(api: FakeTwilioApi,
                                                             twilio: TwilioProvider):
    api.fail_next(1, status=503, on="list")
    assert twilio.find_sent(message(), datetime.now(UTC)) is None
    api.fail_next(3, status=500, on="list")
    with pytest.raises(SmsProviderDown, match="HTTP 500"):
        twilio.find_sent(message(), datetime.now(UTC))


def test_twilio_repr_and_errors_hold_no_secret(api: FakeTwilioApi, twilio: TwilioProvider):
    assert api.auth_token not in repr(twilio) and api.account_sid not in repr(twilio)
    api.fail_next(3, status=503)
    with pytest.raises(SmsProviderDown) as raised:
        twilio.send(message())
    _no_secrets(str(raised.value), api)


# -- signatures -------------------------------------------------------------------------------
def test_signature_matches_twilios_documented_example():
    # twilio.com/docs/usage/webhooks/webhooks-security: auth token 12345, this URL and form.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature("12345", url, {**params, "Digits": "9"},
                               "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature("other", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature("12345", url, params, None)
    assert not valid_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=é")  # no 500
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert valid_signature("12345", with_port, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


class _Ingress:
    """A loopback receiver of form posts: what arrived, raw, with its signature header."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, dict(parse_qsl(raw.decode())),
                                 self.headers.get(SIGNATURE_HEADER)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_status_callbacks_and_replies_from_the_fake_are_signed(api: FakeTwilioApi,
                                                               twilio: TwilioProvider):
    ingress = _Ingress()
    try:
        status_url = f"{ingress.url}/webhooks/sms/status?campaign=dec-cashback"
        accepted = twilio.send(message(callback=status_url))
        assert api.send_status_callback(accepted.provider_message_id, "undelivered",
                                        error_code=30003).status_code == 204
        assert api.send_inbound(f"{ingress.url}/webhooks/sms/inbound", PHONE, "+15005550006",
                                " stop ").status_code == 204
    finally:
        ingress.server.shutdown()
    (path, form, signature), (_, reply, reply_signature) = ingress.received
    assert path == "/webhooks/sms/status?campaign=dec-cashback"
    assert form | {"MessageSid": accepted.provider_message_id, "MessageStatus": "undelivered",
                   "To": PHONE, "From": "+15005550006", "ErrorCode": "30003"} == form
    assert valid_signature(api.auth_token, status_url, form, signature)
    assert not valid_signature("another-token", status_url, form, signature)
    assert reply["Body"] == " stop " and reply["From"] == PHONE
    assert valid_signature(api.auth_token, f"{ingress.url}/webhooks/sms/inbound", reply,
                           reply_signature)
    assert api.messages[0]["status"] == "undelivered" and api.messages[0]["date_sent"]
