"""A sequence definition: the seven e-mails of a drip, their templates per segment, and when
each is due (config/sequences/<name>.yaml, read with the project's strict loader).

The YAML names, for each e-mail, its subject and one text template per segment
(CRITICAL, URGENT, OPTIMIZE). Both parts of a message come from that one template
(core/sequences/render.py): the plain-text part is it, rendered; the HTML part is the
sequence's HTML layout (a file next to the YAML) around the same paragraphs, autoescaped, so
a recipient's name can never become markup. Offsets are given for both timings: ``testing``
in minutes, ``production`` in hours (``SEQUENCE_TIMING``). Every template is compiled when the
definition is loaded, so a syntax error stops the load, not the fifth e-mail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from campaign_pipelines.core.sequences.signups import Segment

EMAILS = 7
Timing = Literal["testing", "production"]
UNITS: dict[Timing, timedelta] = {"testing": timedelta(minutes=1), "production": timedelta(hours=1)}


class EmailSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int = Field(ge=1, le=EMAILS)
    subject: str = Field(min_length=1, max_length=200)
    segments: dict[Segment, str]

    @model_validator(mode="after")
    def _every_segment(self) -> EmailSpec:
        missing = [s.value for s in Segment if s not in self.segments]
        if missing:
            raise ValueError(f"e-mail {self.number} has no template for {missing}")
        return self


class SequenceDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sequence: str = Field(pattern=r"^[a-z0-9_-]+$")
    description: str = ""
    html_layout: str  # a file name next to the YAML
    text_layout: str
    offsets: dict[Timing, list[int]]  # testing: minutes, production: hours
    emails: list[EmailSpec]
    folder: str = ""  # where the layouts are; set by the loader

    @model_validator(mode="after")
    def _seven_in_order(self) -> SequenceDefinition:
        numbers = [email.number for email in self.emails]
        if numbers != list(range(1, EMAILS + 1)):
            raise ValueError(f"emails must be numbered 1..{EMAILS} in order, not {numbers}")
        for timing in UNITS:
            steps = self.offsets.get(timing)
            if steps is None or len(steps) != EMAILS:
                raise ValueError(f"offsets.{timing} must list {EMAILS} offsets")
            if any(b < a for a, b in zip(steps, steps[1:], strict=False)) or steps[0] < 0:
                raise ValueError(f"offsets.{timing} must start at 0 or later and never go back")
        return self

    def offset(self, timing: Timing, number: int) -> timedelta:
        return self.offsets[timing][number - 1] * UNITS[timing]

    def email(self, number: int) -> EmailSpec:
        return self.emails[number - 1]
