"""ResendProvider against the loopback fake of Resend's API: one call, classified."""

import threading
from collections.abc import Iterator

import pytest

from campaign_pipelines.adapters.email.protocol import (
    Accepted,
    EmailRejected,
    OutgoingEmail,
    ProviderUnavailable,
)
from campaign_pipelines.adapters.email.resend import ResendProvider
from campaign_pipelines_tests.fakes.email_api import FakeEmailApi

ADDRESS = "alice.smith@example.com"


@pytest.fixture
def api() -> Iterator[FakeEmailApi]:
    with FakeEmailApi() as fake:
        yield fake


@pytest.fixture
def resend(api: FakeEmailApi) -> Iterator[ResendProvider]:
    with ResendProvider(api.api_key, base_url=api.url, timeout=0.2) as provider:
        yield provider


def outgoing(key: str = "enr-42-email-1", to: str = ADDRESS) -> OutgoingEmail:
    return OutgoingEmail(
        to=to, sender="campaigns@bank.example", subject="Hello", text="plain", html="<p>h</p>",
        idempotency_key=key, headers={"List-Unsubscribe": "<https://bank.example/u?t=1>"},
    )


def test_accepted_with_the_body_resend_expects(api: FakeEmailApi, resend: ResendProvider) -> None:
    accepted = resend.send(outgoing())
    assert isinstance(accepted, Accepted) and accepted.provider_message_id.startswith("fake-")
    [delivered] = api.delivered
    assert delivered["to"] == [ADDRESS] and delivered["idempotency_key"] == "enr-42-email-1"
    assert delivered["text"] == "plain" and delivered["html"] == "<p>h</p>"
    assert delivered["headers"] == {"List-Unsubscribe": "<https://bank.example/u?t=1>"}


def test_a_repeated_key_is_delivered_once(api: FakeEmailApi, resend: ResendProvider) -> None:
    first = resend.send(outgoing())
    assert resend.send(outgoing()) == first
    assert len(api.delivered) == 1 and api.calls == 2


def test_a_lost_answer_then_a_resend_delivers_once(
    api: FakeEmailApi, resend: ResendProvider
) -> None:
    api.drop_next(after_delivery=True)
    with pytest.raises(ProviderUnavailable, match="same idempotency key"):
        resend.send(outgoing())
    resend.send(outgoing())
    assert len(api.delivered) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(api: FakeEmailApi, resend: ResendProvider, status: int) -> None:
    api.fail_next(status=status)
    with pytest.raises(ProviderUnavailable, match=f"HTTP {status}") as unavailable:
        resend.send(outgoing())
    assert unavailable.value.retry_after_s is None and api.delivered == []
    assert ADDRESS not in str(unavailable.value)


def test_429_is_unavailable_with_retry_after(api: FakeEmailApi, resend: ResendProvider) -> None:
    api.fail_next(status=429, retry_after=7)
    with pytest.raises(ProviderUnavailable, match="429") as unavailable:
        resend.send(outgoing())
    assert unavailable.value.retry_after_s == 7.0
    assert resend.send(outgoing()).provider_message_id  # the next call goes through


def test_a_timeout_is_unavailable(api: FakeEmailApi, resend: ResendProvider) -> None:
    api.hang_next(seconds=5)
    with pytest.raises(ProviderUnavailable, match=r"no answer within 0.2 s") as unavailable:
        resend.send(outgoing())
    assert ADDRESS not in str(unavailable.value)


def test_a_dropped_connection_is_unavailable(api: FakeEmailApi, resend: ResendProvider) -> None:
    api.drop_next()
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        resend.send(outgoing())
    assert api.delivered == []


def test_a_refused_connection_is_unavailable(api: FakeEmailApi) -> None:
    url = api.url
    api.close()
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        ResendProvider(api.api_key, base_url=url, timeout=0.2).send(outgoing())


def test_422_is_rejected_with_resends_message_masked(
    api: FakeEmailApi, resend: ResendProvider
) -> None:
    api.reject(ADDRESS, f"Invalid `to` field: {ADDRESS} is not deliverable")
    with pytest.raises(EmailRejected, match="HTTP 422") as rejected:
        resend.send(outgoing())
    text = str(rejected.value)
    assert "is not deliverable" in text and "a***@example.com" in text
    assert ADDRESS not in text


def test_a_key_reused_for_another_message_is_rejected(
    api: FakeEmailApi, resend: ResendProvider
) -> None:
    resend.send(outgoing())
    with pytest.raises(EmailRejected, match="409"):
        resend.send(outgoing(to="bob@example.com"))
    assert len(api.delivered) == 1


def test_a_wrong_api_key_keeps_the_message(api: FakeEmailApi) -> None:
    with pytest.raises(ProviderUnavailable, match="RESEND_API_KEY") as unavailable:
        ResendProvider("re_wrong", base_url=api.url, timeout=0.2).send(outgoing())
    assert "re_wrong" not in str(unavailable.value) and api.delivered == []


def test_overlapping_sends_of_one_key_deliver_once(
    api: FakeEmailApi, resend: ResendProvider
) -> None:
    """Two runs racing on one ledger row: Resend answers the loser 409 'concurrent' or the
    first answer, never a second delivery."""
    outcomes: list[object] = []

    def send() -> None:
        try:
            outcomes.append(resend.send(outgoing()))
        except ProviderUnavailable as error:
            outcomes.append(error)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(api.delivered) == 1 and len(outcomes) == 6
    assert {o.provider_message_id for o in outcomes if isinstance(o, Accepted)} == {
        api.delivered[0]["id"]
    }
