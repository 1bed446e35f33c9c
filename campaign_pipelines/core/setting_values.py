"""How a setting's text becomes its value, shared by every settings object (``defs/settings.py``
and ``ingress/settings.py``). Plain functions, no heavy import: the ingress's workers load this
without the warehouse drivers or Dagster. Each is a pydantic validator as it stands
(``field_validator(...)(lowered)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field


def lowered(value: object) -> object:
    """A choice written in any case, with blanks around it (``" Oracle "``), as compared."""
    return value.strip().lower() if isinstance(value, str) else value


def resolved(value: Path) -> Path:
    """A relative folder made absolute once, when the settings are read: a later ``chdir``
    cannot move the data."""
    return value.resolve()


# Settings both the code location and the ingress read: the same names, values and defaults,
# so that the ingress's /health says what the sequences actually do.
SequenceTiming = Literal["testing", "production"]
EmailProviderName = Literal["outbox", "resend", "smtp"]
SEQUENCE_TIMING = Field(
    default="production",
    validation_alias=AliasChoices("CAMPAIGN_SEQUENCE_TIMING", "SEQUENCE_TIMING"))
EMAIL_PROVIDER = Field(
    default="outbox",
    validation_alias=AliasChoices("CAMPAIGN_EMAIL_PROVIDER", "EMAIL_PROVIDER"))
