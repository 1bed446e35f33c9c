"""A signup, as the webhook receives it and as it lands in ``landing/signups``.

The body is the legacy signup form's (``POST /webhook/christmas-signup``): the address, the
person's and the business's names, how many of the business's systems are broken (red) or
struggling (orange), the sequence it signs up for (``sequence``, or the legacy ``campaign``),
and any assessment answers, kept as they came. The address is checked and normalised by
email-validator (no DNS lookup: a webhook must not wait on the network): surrounding blanks
dropped, the domain lower-cased; the local part keeps its case, as RFC 5321 leaves it to the
receiving server, and ``address_key`` (lower-cased) is what identifies the recipient.

Landing format (``landing/signups/*.jsonl``): one ``SignupRecord`` per line, UTF-8 JSON. A
writer writes under a temporary name and renames the file complete; the sensor reads only
complete ``.jsonl`` files, and a line it cannot read is refused with the file's other lines
admitted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

DEFAULT_SEQUENCE = "christmas"
NAME_CHARS = 200


class Segment(StrEnum):
    CRITICAL = "CRITICAL"
    URGENT = "URGENT"
    OPTIMIZE = "OPTIMIZE"


def segment_of(red_systems: int, orange_systems: int) -> Segment:
    """CRITICAL with two or more broken systems; URGENT with one broken, or two or more
    struggling; OPTIMIZE otherwise."""
    if red_systems >= 2:
        return Segment.CRITICAL
    if red_systems == 1 or orange_systems >= 2:
        return Segment.URGENT
    return Segment.OPTIMIZE


def normalised_email(value: str) -> str:
    """The address as it will be written to: ValueError naming what is wrong with it."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a valid e-mail address: {error}") from None
    return checked.normalized


def address_key(email: str) -> str:
    """Who the recipient is, whatever the case it was typed in."""
    return email.strip().lower()


class Signup(BaseModel):
    """The webhook's body; unknown fields are refused (a typo must not drop an answer)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(max_length=320)
    first_name: str = Field(default="", max_length=NAME_CHARS)
    business_name: str = Field(default="", max_length=NAME_CHARS)
    red_systems: int = Field(default=0, ge=0, le=100)
    orange_systems: int = Field(default=0, ge=0, le=100)
    sequence: str = Field(
        default=DEFAULT_SEQUENCE,
        max_length=NAME_CHARS,
        pattern=r"^[a-z0-9_-]+$",
        validation_alias=AliasChoices("sequence", "campaign"),
    )
    assessment: dict[str, Any] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalised_email(value)

    @property
    def segment(self) -> Segment:
        return segment_of(self.red_systems, self.orange_systems)


class SignupRecord(BaseModel):
    """One line of a landing file: the signup, its id and when the ingress accepted it."""

    model_config = ConfigDict(extra="forbid")

    signup_id: str
    received_at: datetime  # UTC, with its offset
    signup: Signup
