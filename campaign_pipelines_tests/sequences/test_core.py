"""core/sequences without Dagster: segments, the definition, rendering, enrollment, due rows."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sequences.intake import parse_lines, signup_rows
from campaign_pipelines.core.sequences.loading import load_sequence, load_sequences
from campaign_pipelines.core.sequences.plan import (
    ALERT_ATTEMPTS,
    LEDGER_SCHEMA,
    MAX_ATTEMPTS,
    SENDING_LEASE,
    alert_state_after_failure,
    due_now,
    enroll,
    idempotency_key,
)
from campaign_pipelines.core.sequences.render import Recipient, default_folder, render_email
from campaign_pipelines.core.sequences.signups import Segment, Signup, SignupRecord, segment_of

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEFINITIONS = load_sequences(default_folder())


@pytest.mark.parametrize(("red", "orange", "segment"), [
    (2, 0, Segment.CRITICAL), (1, 0, Segment.URGENT), (0, 1, Segment.OPTIMIZE),
    (0, 2, Segment.URGENT), (3, 5, Segment.CRITICAL)])
def test_segments(red, orange, segment):
    assert segment_of(red, orange) is segment


def record(email: str, at: datetime, red: int = 0, orange: int = 0, sid: str = "") -> str:
    return SignupRecord(signup_id=sid or f"s-{email}-{at:%H%M%S}", received_at=at,
                        signup=Signup(email=email, first_name="Ann", red_systems=red,
                                      orange_systems=orange)).model_dump_json()


def rows(*lines: str):
    records, problems = parse_lines("\n".join(lines).encode(), set(DEFINITIONS))
    assert problems == []
    return signup_rows(records, "f.jsonl", "f.jsonl@1")


def test_each_signup_plans_seven_sends_on_the_timings_offsets():
    for timing, step in (("testing", timedelta(minutes=1)), ("production", None)):
        plan = enroll(rows(record("a@x.org", T0, red=2), record("b@x.org", T0, orange=2)),
                      pl.DataFrame(schema={"sequence": pl.String, "address_key": pl.String}),
                      DEFINITIONS, timing, T0)
        assert plan.enrollments.height == 2 and plan.ledger.height == 14
        one = plan.ledger.filter(pl.col("address_key") == "a@x.org").sort("email_number")
        offsets = [(d - T0) for d in one["due_at"]]
        hours = [0, 24, 72, 120, 168, 216, 264]
        assert offsets == ([step * n for n in range(7)] if step
                           else [timedelta(hours=h) for h in hours])
        assert one["idempotency_key"][2] == idempotency_key("christmas", "a@x.org", 3)
        assert plan.counts()["enrolled_per_segment"] == {"CRITICAL": 1, "URGENT": 1,
                                                         "OPTIMIZE": 0}
        assert dict(plan.enrollments.select("segment", "alert_state").iter_rows()) == {
            "CRITICAL": "pending", "URGENT": "none"}


def test_a_repeated_signup_is_a_duplicate_in_the_batch_and_across_batches():
    first = enroll(rows(record("A@x.org", T0), record("a@x.org", T0 + timedelta(seconds=5))),
                   pl.DataFrame(schema={"sequence": pl.String, "address_key": pl.String}),
                   DEFINITIONS, "testing", T0)
    assert first.signups["outcome"].to_list() == ["enrolled", "duplicate"]
    again = enroll(rows(record("a@X.org", T0 + timedelta(days=1))),
                   first.enrollments, DEFINITIONS, "testing", T0)
    assert again.enrollments.height == 0 and again.ledger.height == 0
    assert again.counts()["duplicates"] == 1


def test_bad_lines_are_named_and_the_others_kept():
    good = record("a@x.org", T0)
    records, problems = parse_lines(
        f'{good}\n{{"nope": 1}}\n{good.replace("christmas", "easter")}\n'.encode(),
        set(DEFINITIONS))
    assert len(records) == 1
    assert [p["field"].split(":")[0] for p in problems] == ["line 2", "line 3"]


def test_rendering_escapes_the_name_in_html_and_uses_the_segments_template():
    d = DEFINITIONS["christmas"]
    for segment in Segment:
        out = render_email(d, 1, Recipient("<b>Ann</b>\r\nBcc: x", "Acme", segment.value, 2, 0,
                                           "https://h/u?token=t"))
        assert f"[{segment.value.lower()}]" in out.text
        assert "<b>Ann</b>" not in out.html and "&lt;b&gt;Ann&lt;/b&gt;" in out.html
        assert "\n" not in out.subject and "\r" not in out.subject
        assert "https://h/u?token=t" in out.text


def test_a_template_naming_an_unknown_value_stops_the_load(tmp_path):
    text = (default_folder() / "christmas.yaml").read_text().replace(
        "{{ red_systems }} systems", "{{ red_sytems }} systems", 1)
    (tmp_path / "christmas").mkdir()
    for layout in (default_folder() / "christmas").iterdir():
        (tmp_path / "christmas" / layout.name).write_text(layout.read_text())
    (tmp_path / "christmas.yaml").write_text(text)
    with pytest.raises(ProblemsError, match="red_sytems"):
        load_sequence(tmp_path / "christmas.yaml")


def candidates(**columns) -> pl.DataFrame:
    base = {"idempotency_key": "k", "enrollment_id": "e", "email_number": 1, "state": "queued",
            "due_at": T0, "claimed_at": None, "attempts": 0, "enrollment_status": "active",
            "suppressed": False}
    return pl.DataFrame([{**base, **columns}]).cast({"due_at": LEDGER_SCHEMA["due_at"],
                                                     "claimed_at": LEDGER_SCHEMA["claimed_at"]})


def test_due_rows_skip_suppressed_cancelled_and_not_yet_due():
    assert due_now(candidates(), T0).send.height == 1
    assert due_now(candidates(due_at=T0 + timedelta(minutes=1)), T0).send.height == 0
    assert due_now(candidates(suppressed=True), T0).suppress.height == 1
    cancelled = due_now(candidates(enrollment_status="cancelled"), T0)
    assert cancelled.send.height == 0 and cancelled.suppress["last_error"][0] == (
        "enrollment cancelled")
    assert due_now(candidates(attempts=MAX_ATTEMPTS), T0).give_up.height == 1
    sending = candidates(state="sending", claimed_at=T0)
    assert due_now(sending, T0 + SENDING_LEASE / 2).send.height == 0
    assert due_now(sending, T0 + SENDING_LEASE).send.height == 1


def test_a_failed_alert_waits_for_the_next_run_until_its_last_attempt_or_a_refusal():
    assert alert_state_after_failure(refused=False, attempts_before=0) == "pending"
    assert alert_state_after_failure(False, ALERT_ATTEMPTS - 2) == "pending"
    assert alert_state_after_failure(False, ALERT_ATTEMPTS - 1) == "failed"
    assert alert_state_after_failure(refused=True, attempts_before=0) == "failed"
