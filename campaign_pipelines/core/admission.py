"""Who may take a campaign key: the rule that keeps a live campaign from being replaced by
accident.

A campaign key (the request file's stem, see ``adapters/admission.campaign_key``) is claimed
by the first request admitted under it. A later arrival under the same key is:

- the same content (the same version id): admitted again, a rebuild of that same version;
- different content that says it replaces the campaign on purpose (``replaces:`` naming the
  key or the campaign's code, or ``campaigns create --replace``): admitted, it becomes the
  campaign's version;
- different content without that: refused, naming the campaign that holds the key and how to
  replace it on purpose or start a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from campaign_pipelines.core.requests import RequestError


class Outcome(StrEnum):
    NEW = "new"  # the key was free
    SAME = "same"  # the same version again: a rebuild of what the key already holds
    REPLACE = "replace"  # a different version, replacing the previous one on purpose


@dataclass(frozen=True)
class Claim:
    """What a campaign key holds: the admitted version and where it came from."""

    key: str
    version: str
    campaign_name: str
    source_file: str
    admitted_at: str
    campaign_code: str | None = None


class AdmissionRefused(RequestError):
    """An arrival that would replace a live campaign without saying so (a RequestError: it
    is refused like any other request that cannot run)."""


def decide(
    key: str,
    version: str,
    *,
    current: Claim | None,
    replaces: str | None,
    replace: bool = False,
) -> Outcome:
    """How an arrival with ``version`` under ``key`` is admitted, or AdmissionRefused.

    ``replaces`` is the request's own field, ``replace`` the command line's ``--replace``.
    """
    if replaces is not None and replaces not in _names_of(key, current):
        raise AdmissionRefused([_replaces_elsewhere(key, replaces, current)])
    if current is None:
        return Outcome.NEW
    if current.version == version:
        return Outcome.SAME
    if replace or replaces is not None:
        return Outcome.REPLACE
    raise AdmissionRefused([_taken(key, version, current)])


def _names_of(key: str, current: Claim | None) -> set[str]:
    names = {key}
    if current is not None and current.campaign_code:
        names.add(current.campaign_code)
    return names


def _described(claim: Claim) -> str:
    code = (
        f"campaign {claim.campaign_code}"
        if claim.campaign_code
        else "a campaign (no code yet: its run is queued or going, or failed before codes)"
    )
    return (
        f"{code} {claim.campaign_name!r}, version {claim.version} admitted from "
        f"{claim.source_file} at {claim.admitted_at}"
    )


def _taken(key: str, version: str, current: Claim) -> dict[str, str]:
    marker = current.campaign_code or key
    return {
        "field": "<file name>",
        "problem": f"campaign key {key!r} belongs to {_described(current)}; this request has "
        f"different content (version {version})",
        "fix": f"to replace that campaign on purpose add `replaces: {marker}` to the request "
        "(or run `campaigns create FILE --replace`); to create a new campaign give the file "
        "another name",
    }


def _replaces_elsewhere(key: str, replaces: str, current: Claim | None) -> dict[str, str]:
    held = f" (it holds {_described(current)})" if current else ""
    return {
        "field": "replaces",
        "problem": f"{replaces!r} is not this file's campaign: the file name gives the key "
        f"{key!r}{held}",
        "fix": f"name the file {replaces}.json to replace that campaign, or set replaces to "
        f"{key!r}",
    }
