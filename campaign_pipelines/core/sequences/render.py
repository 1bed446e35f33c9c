"""One e-mail of a sequence, rendered for one recipient: subject, plain text and HTML.

Jinja2 with ``StrictUndefined``: a template naming a value the recipient does not have fails
at load (``check_templates`` renders every template once with a sample recipient), never
sends "Hi ,". The segment's template is rendered once as plain text; its paragraphs (split on
blank lines) then go through the HTML layout, whose environment autoescapes, so a first name
like ``<b>Ann</b>`` reaches the HTML part as text. The subject is one line: any line break a
name brought in is folded to a space (no header injection).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sequences.definition import SequenceDefinition
from campaign_pipelines.core.sequences.signups import Segment


@dataclass(frozen=True)
class Recipient:
    first_name: str
    business_name: str
    segment: str
    red_systems: int
    orange_systems: int
    unsubscribe_url: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=4)
def _environment(folder: str, autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=autoescape,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _template(folder: str, source: str) -> jinja2.Template:
    return _environment(folder, False).from_string(source)


def render_email(definition: SequenceDefinition, number: int, recipient: Recipient) -> Rendered:
    spec = definition.email(number)
    values = {**asdict(recipient), "email_number": number}
    subject = " ".join(_template(definition.folder, spec.subject).render(values).split())
    body = _template(definition.folder, spec.segments[Segment(recipient.segment)]).render(values)
    paragraphs = [part.strip() for part in body.strip().split("\n\n") if part.strip()]
    layout = {**values, "subject": subject, "paragraphs": paragraphs,
              "body": "\n\n".join(paragraphs)}
    text = _environment(definition.folder, False).get_template(definition.text_layout)
    html = _environment(definition.folder, True).get_template(definition.html_layout)
    return Rendered(subject=subject, text=text.render(layout), html=html.render(layout))


SAMPLE = Recipient(first_name="Sample", business_name="Sample Ltd", segment="CRITICAL",
                   red_systems=2, orange_systems=0, unsubscribe_url="https://example.invalid/u")


def check_templates(definition: SequenceDefinition, where: str) -> None:
    """Renders every e-mail for every segment once: ProblemsError naming the one that fails."""
    problems = []
    for spec in definition.emails:
        for segment in Segment:
            try:
                render_email(definition, spec.number, Recipient(**{
                    **asdict(SAMPLE), "segment": segment.value}))
            except (jinja2.TemplateError, OSError) as error:
                problems.append({"field": f"emails[{spec.number}].segments.{segment.value}",
                                 "problem": f"{type(error).__name__}: {error}",
                                 "fix": "use only first_name, business_name, segment, "
                                 "red_systems, orange_systems, unsubscribe_url, email_number"})
    if problems:
        raise ProblemsError(problems, where)


def default_folder() -> Path:
    return Path(__file__).resolve().parents[2] / "config" / "sequences"
