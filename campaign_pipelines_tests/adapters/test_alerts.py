"""AlertWebhook against a loopback Discord-like webhook: one POST, classified."""

from collections.abc import Iterator

import httpx
import pytest

from campaign_pipelines.adapters.alerts import (
    AlertRejected,
    AlertUnavailable,
    AlertWebhook,
    SignupAlert,
)
from campaign_pipelines_tests.fakes.json_http import DROP, Answer, JsonServer, Request

ADDRESS = "alice.smith@example.com"
ALERT = SignupAlert(
    email=ADDRESS, first_name="Alice", business_name="@everyone *Bold* Ltd", segment="CRITICAL",
    red_systems=3, orange_systems=1, sequence="christmas", signup_id="sig-7",
)


class Webhook:
    """Answers 204 like Discord, or the queued answers first. A post to another path gets a
    405 that no test expects (an assert here would fail in the server's thread, not the test's)."""

    def __init__(self) -> None:
        self.queued: list[Answer] = []

    def __call__(self, request: Request) -> Answer:
        if request.path != "/api/webhooks/1/secret-token":
            return Answer(405, {"message": f"fake webhook: unexpected path {request.path}"})
        return self.queued.pop(0) if self.queued else Answer(204)


@pytest.fixture
def hook() -> Iterator[tuple[Webhook, JsonServer]]:
    route = Webhook()
    with JsonServer(route) as server:
        yield route, server


def webhook(server: JsonServer) -> AlertWebhook:
    return AlertWebhook(f"{server.url}/api/webhooks/1/secret-token", timeout=0.5)


def test_posts_a_discord_body_with_the_address_masked(hook) -> None:
    _, server = hook
    webhook(server).alert_signup(ALERT)
    [request] = server.requests
    body = request.body
    assert body["content"].startswith("🚨 CRITICAL signup: Alice")
    assert r"a\*\*\*\@example.com" in body["content"]
    assert ADDRESS not in str(body)
    assert body["allowed_mentions"] == {"parse": []}
    assert r"\@everyone \*Bold\* Ltd" in body["embeds"][0]["description"]
    fields = {f["name"]: f["value"] for f in body["embeds"][0]["fields"]}
    assert fields["Red systems"] == "3" and fields["Signup"] == "sig-7"


def test_429_is_unavailable_with_discords_retry_after(hook) -> None:
    route, server = hook
    route.queued.append(Answer(429, {"message": "You are being rate limited.",
                                     "retry_after": 1.5, "global": False}))
    with pytest.raises(AlertUnavailable, match="429") as unavailable:
        webhook(server).alert_signup(ALERT)
    assert unavailable.value.retry_after_s == 1.5


@pytest.mark.parametrize("answer", [Answer(502, {"message": "bad gateway"}), DROP])
def test_5xx_and_a_dropped_connection_are_unavailable(hook, answer: Answer) -> None:
    route, server = hook
    route.queued.append(answer)
    with pytest.raises(AlertUnavailable) as unavailable:
        webhook(server).alert_signup(ALERT)
    assert "secret-token" not in str(unavailable.value) and ADDRESS not in str(unavailable.value)


def test_a_deleted_webhook_is_rejected_without_its_token(hook) -> None:
    route, server = hook
    route.queued.append(Answer(404, {"message": f"Unknown Webhook for {ADDRESS}", "code": 10015}))
    with pytest.raises(AlertRejected, match="Unknown Webhook") as rejected:
        webhook(server).alert_signup(ALERT)
    text = str(rejected.value)
    assert "secret-token" not in text and ADDRESS not in text and "ALERT_WEBHOOK_URL" in text


def test_a_refused_connection_is_unavailable() -> None:
    with JsonServer(Webhook()) as server:
        url = server.url
    with pytest.raises(AlertUnavailable, match="unreachable"):
        AlertWebhook(f"{url}/api/webhooks/1/secret-token", timeout=0.5).alert_signup(ALERT)


def test_missing_names_are_empty_not_none(hook) -> None:
    _, server = hook
    alert = SignupAlert(email=ADDRESS, first_name=None, business_name=None,  # type: ignore[arg-type]
                        segment="CRITICAL", red_systems=2, orange_systems=0, sequence="christmas",
                        signup_id=None)  # type: ignore[arg-type]
    webhook(server).alert_signup(alert)
    body = server.requests[0].body
    assert "None" not in body["content"]
    assert {f["name"]: f["value"] for f in body["embeds"][0]["fields"]}["Signup"] == "n/a"


def test_a_transport_error_that_quotes_a_discord_url_hides_its_token(monkeypatch) -> None:
    """Discord's webhook ids are long digit runs, which masking rewrites: the URL must be
    hidden before masking, not after."""
    url = "https://discord.com/api/webhooks/1234567890123456789/secret-token"

    def refuse(target: str, **_: object) -> None:
        raise httpx.ConnectError(f"cannot reach {target}")

    monkeypatch.setattr(httpx, "post", refuse)
    with pytest.raises(AlertUnavailable, match="discord.com") as unavailable:
        AlertWebhook(url, timeout=0.5).alert_signup(ALERT)
    assert "secret-token" not in str(unavailable.value)
