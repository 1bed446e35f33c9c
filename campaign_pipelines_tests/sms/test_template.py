"""Segment counting (GSM-7 vs UCS-2, exact part boundaries) and the template's check and render."""

import pytest

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.segments import count_segments
from campaign_pipelines.core.sms.template import (
    SAMPLE_FIRST_NAME,
    MessageError,
    check_template,
    render_message,
)


@pytest.mark.parametrize("length, segments", [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2),
                                              (307, 3), (459, 3), (460, 4)])
def test_gsm7_holds_160_in_one_and_153_per_part(length, segments):
    count = count_segments("a" * length)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", length, segments)


@pytest.mark.parametrize("length, segments", [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3),
                                              (202, 4)])
def test_cyrillic_makes_ucs2_with_70_in_one_and_67_per_part(length, segments):
    count = count_segments("ж" * length)
    assert (count.encoding, count.units, count.segments) == ("UCS-2", length, segments)


def test_one_kazakh_letter_makes_the_whole_text_ucs2():
    text = "a" * 69 + "ә"
    count = count_segments(text)
    assert (count.encoding, count.segments, count.first_non_gsm) == ("UCS-2", 1, "ә")
    assert count_segments("a" * 70 + "ә").segments == 2
    assert "because of 'ә'" in count_segments(text).describe


def test_a_curly_apostrophe_is_not_gsm():
    assert count_segments("It’s here").encoding == "UCS-2"
    assert count_segments("It's here £5 @ €").encoding == "GSM-7"


def test_extended_gsm_characters_count_two():
    assert count_segments("€" * 80).units == 160
    assert count_segments("€" * 80).segments == 1
    assert count_segments("a" * 159 + "{").segments == 2  # 161 units
    # An escape pair never straddles parts: after 152 plain, "[" does not fit the 153 left
    # of the part and moves on, so 306 units take 3 parts where 306 / 153 would say 2.
    assert count_segments("a" * 152 + "[" + "a" * 152).units == 306
    assert count_segments("a" * 152 + "[" + "a" * 152).segments == 3
    assert count_segments("a" * 151 + "[" + "a" * 153).segments == 2


def test_emoji_are_two_ucs2_units_and_never_split():
    assert count_segments("😀" * 35).units == 70
    assert count_segments("😀" * 35).segments == 1
    assert count_segments("ж" * 66 + "😀" + "ж" * 3).segments == 2  # 71 units
    # The pair does not fit the one unit left after 66, so 134 units take 3 parts, not 2.
    assert count_segments("ж" * 66 + "😀" + "ж" * 66).segments == 3


def check(source: str, max_segments: int = 3):
    return check_template(source, campaign="dec-cashback", stop_hint="STOP: 7575",
                          max_segments=max_segments)


def test_the_check_renders_with_a_long_kazakh_first_name():
    message = check("Hi {{ first_name }}, {{ campaign }}. {{ stop_hint }}\n")
    assert message.text == f"Hi {SAMPLE_FIRST_NAME}, dec-cashback. STOP: 7575"
    assert message.count.encoding == "UCS-2" and len(SAMPLE_FIRST_NAME) == 20


def test_an_unknown_variable_is_named_with_a_suggestion():
    with pytest.raises(ProblemsError) as caught:
        check("Hi {{ firstname }} {{ balance }}")
    assert [p["problem"] for p in caught.value.problems] == [
        "unknown variable 'balance'", "unknown variable 'firstname' (did you mean first_name?)"]
    assert all(p["field"] == "template" for p in caught.value.problems)


@pytest.mark.parametrize("source, words", [
    ("{% for i in range(9) %}x{% endfor %}", "loops are not allowed"),
    ("{{ 'x' * 1000000 }}", "the * operator is not allowed"),
    ("{{ 9 ** 99999999 }}", "the ** operator is not allowed"),  # refused before folding
    ("{{ first_name|center(999) }}", "the filter 'center' is not allowed"),
    ("{{ first_name|truncate(100000) }}", "a number above 1000"),
    ("{{ first_name.replace('', 'x') }}", "function and method calls are not allowed"),
    ("{% set x = 1 %}{{ x }}", "{% set %} is not allowed"),
    ("{% include 'a' %}", "includes are not allowed"),
    ("Hi {{ first_name ", "template syntax"),
    ("   ", "the template is empty"),
])
def test_templates_that_could_run_away_or_do_not_parse_are_refused(source, words):
    with pytest.raises(ProblemsError, match="template: ") as caught:
        check(source)
    assert any(words in p["problem"] for p in caught.value.problems)


def test_the_sandbox_refuses_reaching_into_python():
    with pytest.raises(ProblemsError, match="SecurityError"):
        check("{{ first_name.__class__.__mro__ }}")


def test_a_template_over_the_segment_limit_is_refused_with_the_count_and_the_cause():
    source = "Уважаемый клиент! " + "Кэшбэк " * 20  # Cyrillic: UCS-2
    with pytest.raises(ProblemsError) as caught:
        check(source, max_segments=2)
    problem = caught.value.problems[0]
    assert problem["problem"].startswith("the message is 3 segment(s) of UCS-2 (because of 'У')")
    assert "shorten" in problem["fix"]
    assert check(source, max_segments=3).count.segments == 3
    with pytest.raises(ValueError, match="1..10"):
        check(source, max_segments=11)


def test_a_latin_template_greeting_by_name_is_counted_as_ucs2():
    source = "Hi {{ first_name }}! " + "x" * 60
    with pytest.raises(ProblemsError, match="2 segment"):
        check(source, max_segments=1)
    assert check("Hello! " + "x" * 150, max_segments=1).count.encoding == "GSM-7"


def test_a_template_empty_for_everyone_is_refused():
    with pytest.raises(ProblemsError, match="empty once rendered") as caught:
        check("{% if false %}x{% endif %}")
    assert "outside any {% if %}" in caught.value.problems[0]["fix"]


def test_case_default_and_truncate_filters_are_allowed():
    message = check("{{ first_name|default('client')|title|truncate(30) }}, {{ campaign|upper }}")
    assert message.text == f"{SAMPLE_FIRST_NAME.title()}, DEC-CASHBACK"


def test_render_per_recipient():
    source = "{% if first_name %}{{ first_name }}, c{% else %}C{% endif %}ashback! {{ stop_hint }}"
    values = {"campaign": "dec", "stop_hint": "STOP 7575"}
    assert render_message(source, first_name="  Aigerim ", **values).text == \
        "Aigerim, cashback! STOP 7575"
    assert render_message(source, first_name=None, **values).text == "Cashback! STOP 7575"
    assert render_message(source, first_name="Ai\n  gerim", **values).text.startswith("Ai gerim,")
    with pytest.raises(MessageError, match="more than the 1 segment"):
        render_message(source, first_name="Ж" * 70, max_segments=1, **values)
