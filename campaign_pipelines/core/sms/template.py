"""An SMS campaign's message template: checked when the campaign is created, rendered per
recipient when it is sent.

Decisions:
- Jinja2 in a SandboxedEnvironment with StrictUndefined and no globals. A template may use
  exactly these variables (ALLOWED), anything else is an error naming it:
  ``first_name`` (the recipient's, blanks and line breaks folded to one space, "" when the
  list has none), ``campaign`` (the campaign's
  name) and ``stop_hint`` (the opt-out instruction the deployment configures, e.g.
  "STOP: 7575"). ``{% if %}`` and the FILTERS (case, trim, default, truncate) are fine;
  loops, macros, blocks, includes, imports, ``{% set %}``, calls, other filters, the ``*`` and
  ``**`` operators and numbers above MAX_NUMBER are refused: a message needs none of them, and
  without them rendering (and Jinja's constant folding) is bounded in time and size.
- The rendered text is stripped of surrounding blanks (a YAML ``|`` block ends in a newline,
  which would cost a unit) and must not be empty.
- The length check at creation renders with the longest plausible values: a first name of
  SAMPLE_FIRST_NAME's 20 Kazakh letters (so a Latin template that greets by name is counted as
  the UCS-2 it will be for most of the bank's customers) and the real campaign and stop hint.
  Over ``max_segments`` (segments.py) is an error naming the count and the encoding's cause.
- At send time a recipient whose message exceeds ``max_segments`` (a first name longer than
  the sample) gets MessageError, which the sender records as that row's failure: nobody is
  charged more segments than the campaign was approved for.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.segments import SegmentCount, count_segments

ALLOWED = ("first_name", "campaign", "stop_hint")
SAMPLE_FIRST_NAME = "Айгерім-Гүлнұрсұлтан"  # 20 letters, UCS-2
DEFAULT_MAX_SEGMENTS = 3
MAX_SEGMENTS_LIMIT = 10  # providers advise against more; Twilio's body limit is 1,600 chars
MAX_TEMPLATE_CHARS = 1600
_REFUSED_NODES = {
    nodes.For: "loops are", nodes.Macro: "macros are", nodes.CallBlock: "call blocks are",
    nodes.Block: "blocks are", nodes.Include: "includes are", nodes.Import: "imports are",
    nodes.FromImport: "imports are", nodes.Extends: "extends is", nodes.Assign: "{% set %} is",
    nodes.AssignBlock: "{% set %} is", nodes.FilterBlock: "filter blocks are",
    nodes.With: "{% with %} is", nodes.Mul: "the * operator is", nodes.Pow: "the ** operator is",
    nodes.Call: "function and method calls are",
}
FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default", "d", "truncate")
MAX_NUMBER = 1000


class MessageError(ValueError):
    """One recipient's message cannot be sent as rendered (too long, empty); ``fix`` says what
    would make it fit."""

    def __init__(self, problem: str, fix: str = ""):
        self.fix = fix or _fix()
        super().__init__(problem)


@dataclass(frozen=True)
class Message:
    text: str
    count: SegmentCount


def _environment() -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    environment.globals.clear()
    return environment


_ENVIRONMENT = _environment()


def _fix() -> str:
    return "use only " + ", ".join(ALLOWED) + " as variables"


def template_problems(source: str) -> list[tuple[str, str]]:
    """(problem, fix) for each thing wrong with ``source`` as a template, found without
    rendering it; empty when there is none."""
    if not source.strip():
        return [("the template is empty", "write the message text")]
    if len(source) > MAX_TEMPLATE_CHARS:
        return [(f"the template is {len(source)} characters, more than {MAX_TEMPLATE_CHARS}",
                 f"shorten it to at most {MAX_TEMPLATE_CHARS} characters")]
    try:
        tree = _ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as error:
        return [(f"template syntax: {error.message} (line {error.lineno})",
                 "correct the {{ }} or {% %} tag on that line")]
    found = [(f"{what} not allowed in an SMS template",
              "write the text out; use {{ variable }}, filters and {% if %} only")
             for kind, what in _REFUSED_NODES.items() if any(True for _ in tree.find_all(kind))]
    found += [(f"the filter {name!r} is not allowed", "use only " + ", ".join(FILTERS))
              for name in sorted({f.name for f in tree.find_all(nodes.Filter)} - set(FILTERS))]
    if any(isinstance(c.value, int | float) and abs(c.value) > MAX_NUMBER
           for c in tree.find_all(nodes.Const)):
        found.append((f"a number above {MAX_NUMBER}", f"use numbers up to {MAX_NUMBER}"))
    if found:  # before the analysis below, which compiles and so folds constants
        return found
    for name in sorted(meta.find_undeclared_variables(tree) - set(ALLOWED)):
        close = difflib.get_close_matches(name, ALLOWED, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        found.append((f"unknown variable {name!r}{hint}", _fix()))
    return found


@lru_cache(maxsize=64)
def _compiled(source: str) -> jinja2.Template:
    problems = template_problems(source)
    if problems:
        raise MessageError("; ".join(p for p, _ in problems), problems[0][1])
    return _ENVIRONMENT.from_string(source)


def render_message(source: str, *, first_name: str | None, campaign: str, stop_hint: str,
                   max_segments: int = DEFAULT_MAX_SEGMENTS) -> Message:
    """The message for one recipient; MessageError if it is empty or over ``max_segments``."""
    try:
        text = _compiled(source).render(
            first_name=" ".join((first_name or "").split()), campaign=campaign,
            stop_hint=stop_hint)
    except jinja2.TemplateError as error:  # a SecurityError or a filter given a wrong value
        raise MessageError(f"the template failed: {type(error).__name__}: {error}") from None
    text = text.strip()
    if not text:
        raise MessageError("the message is empty once rendered",
                           "write text that every recipient gets, outside any {% if %}")
    count = count_segments(text)
    if count.segments > max_segments:
        raise MessageError(
            f"the message is {count.describe}: more than the {max_segments} segment(s) allowed",
            f"shorten the text to fit {max_segments} segment(s): 160 GSM-7 or 70 UCS-2 "
            "characters for one, 153 or 67 per part beyond; any Cyrillic or Kazakh letter "
            "makes the whole message UCS-2")
    return Message(text, count)


def check_template(source: str, *, campaign: str, stop_hint: str,
                   max_segments: int = DEFAULT_MAX_SEGMENTS, field: str = "template") -> Message:
    """The template rendered with the longest plausible values (the module's decisions), or
    ProblemsError naming ``field``, every problem and its fix. ``max_segments`` is a setting
    of 1..MAX_SEGMENTS_LIMIT (ValueError otherwise)."""
    if not 1 <= max_segments <= MAX_SEGMENTS_LIMIT:
        raise ValueError(f"max_segments must be 1..{MAX_SEGMENTS_LIMIT}, not {max_segments}")
    problems = template_problems(source)
    if problems:
        raise ProblemsError([{"field": field, "problem": p, "fix": f} for p, f in problems])
    try:
        return render_message(source, first_name=SAMPLE_FIRST_NAME, campaign=campaign,
                              stop_hint=stop_hint, max_segments=max_segments)
    except MessageError as error:
        raise ProblemsError([{"field": field, "problem": str(error), "fix": error.fix}]) from None
