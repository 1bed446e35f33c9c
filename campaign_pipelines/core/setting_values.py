"""How a setting's text becomes its value, shared by every settings object (``defs/settings.py``
and ``ingress/settings.py``). Plain functions, no heavy import: the ingress's workers load this
without the warehouse drivers or Dagster. Each is a pydantic validator as it stands
(``field_validator(...)(lowered)``)."""

from __future__ import annotations

from pathlib import Path


def lowered(value: object) -> object:
    """A choice written in any case, with blanks around it (``" Oracle "``), as compared."""
    return value.strip().lower() if isinstance(value, str) else value


def resolved(value: Path) -> Path:
    """A relative folder made absolute once, when the settings are read: a later ``chdir``
    cannot move the data."""
    return value.resolve()
