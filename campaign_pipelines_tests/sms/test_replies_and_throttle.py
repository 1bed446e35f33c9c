"""Inbound keywords (Latin, Russian, Kazakh) and the token bucket on a fake clock."""

import pytest

from campaign_pipelines.core.sms.replies import ReplyKind, classify_reply
from campaign_pipelines.core.sms.throttle import TokenBucket


@pytest.mark.parametrize("body, keyword", [
    ("STOP", "STOP"), (" stop! ", "STOP"), ("Stop.", "STOP"), ("ＳＴＯＰ", "STOP"),
    ("STOP 🙏", "STOP"), ("stopall", "STOPALL"), ("Unsubscribe", "UNSUBSCRIBE"),
    ("cancel", "CANCEL"), ("End", "END"), ("quit?", "QUIT"),
    ("СТОП", "СТОП"), ("стоп", "СТОП"), ("  Стоп!!", "СТОП"), ("«стоп»", "СТОП"),
    ("ТОҚТАТУ", "ТОҚТАТУ"), ("тоқтату", "ТОҚТАТУ"), ("Токтату", "ТОКТАТУ"),
])
def test_opt_out_keywords(body, keyword):
    reply = classify_reply(body)
    assert (reply.kind, reply.keyword) == (ReplyKind.OPT_OUT, keyword)


@pytest.mark.parametrize("body, keyword", [("START", "START"), ("unstop", "UNSTOP"),
                                           (" Старт ", "СТАРТ")])
def test_opt_in_keywords(body, keyword):
    assert classify_reply(body).kind == ReplyKind.OPT_IN
    assert classify_reply(body).keyword == keyword


@pytest.mark.parametrize("body", ["please stop sending", "STOP ALL", "stopp", "Спасибо!", "",
                                  None, "1", "STOP\nthanks"])
def test_anything_else_is_a_reply(body):
    assert classify_reply(body).kind == ReplyKind.REPLY
    assert classify_reply(body).keyword is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_starts_full_then_paces_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_needed() == 0.5
    clock.now += 0.25
    assert bucket.wait_needed() == 0.25 and not bucket.take()
    clock.now += 0.25
    assert bucket.take() and not bucket.take()
    clock.now += 100  # a long idle refills only up to the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_sending_when_allowed_waits_with_the_given_sleep():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock)
    waits = [bucket.send_when_allowed(clock.sleep) for _ in range(21)]
    assert waits[0] == 0.0 and all(w == pytest.approx(0.1) for w in waits[1:])
    assert clock.now == pytest.approx(102.0)  # 21 messages at 10/s: two seconds


def test_wait_needed_takes_nothing_and_a_clock_going_back_adds_nothing():
    clock = Clock()
    bucket = TokenBucket(rate=1, clock=clock)
    assert bucket.wait_needed() == 0.0 and bucket.wait_needed() == 0.0
    assert bucket.take()
    clock.now -= 50
    assert bucket.wait_needed() == 1.0
    assert bucket.wait_needed(now=clock.now + 51) == 0.0  # an explicit now


def test_no_rate_means_no_throttle_and_bad_settings_are_refused():
    bucket = TokenBucket(rate=None, clock=Clock())
    assert all(bucket.take() for _ in range(10_000)) and bucket.wait_needed() == 0.0
    with pytest.raises(ValueError, match="above 0"):
        TokenBucket(rate=0)
    with pytest.raises(ValueError, match="at least 1"):
        TokenBucket(rate=1, burst=0)
