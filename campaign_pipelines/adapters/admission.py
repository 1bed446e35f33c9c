"""Admitting a campaign request: the same steps for the sensor and for ``campaigns create``.

A request file is parsed, its blacklist names checked against the reference config and its
uploads checked for presence, then stored under its campaign key as canonical JSON. Checks that
need the reference data itself (device, stream and product names) run in the campaign's run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from campaign_pipelines.core.requests import (
    CampaignRequest,
    RequestError,
    check_blacklist_names,
    parse_request,
)

REQUEST_SUFFIXES = (".json", ".yaml", ".yml")


def campaign_key(file_name: str) -> str:
    """The campaign's partition key: the request file's name without extension, lower-cased,
    anything but letters, digits, ``-`` and ``_`` replaced by ``_``."""
    stem = Path(file_name).stem.lower()
    key = re.sub(r"[^\w-]+", "_", stem).strip("_")[:64]
    if not key:
        raise RequestError(
            [
                {
                    "field": "<file name>",
                    "problem": f"{file_name!r} gives no campaign key",
                    "fix": "name the file with letters or digits, e.g. spring_push.json",
                }
            ]
        )
    return key


@dataclass(frozen=True)
class RequestStore:
    """Accepted requests, one canonical JSON file per campaign key."""

    root: Path

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def save(self, key: str, request: CampaignRequest) -> Path:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(request.model_dump_json(indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path

    def load(self, key: str) -> CampaignRequest:
        path = self.path(key)
        if not path.exists():
            raise FileNotFoundError(
                f"no accepted request for campaign {key!r} ({path}): drop the request file in "
                "landing/campaigns or run `campaigns create FILE`"
            )
        return CampaignRequest.model_validate_json(path.read_text(encoding="utf-8"))


def read_request(path: Path) -> CampaignRequest:
    if path.suffix.lower() not in REQUEST_SUFFIXES:
        raise RequestError(
            [
                {
                    "field": "<file name>",
                    "problem": f"{path.name} is not JSON or YAML",
                    "fix": "save the request as .json or .yaml",
                }
            ]
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise RequestError(
            [
                {
                    "field": "<document>",
                    "problem": f"not UTF-8 text ({error.reason} at byte {error.start})",
                    "fix": "save the file as UTF-8",
                }
            ]
        ) from None
    return parse_request(text, yaml_syntax=path.suffix.lower() != ".json")


def admit(path: Path, *, blacklist_sources: list[str], uploads_dir: Path) -> CampaignRequest:
    """The request in ``path`` if it can run, else RequestError listing every problem."""
    request = read_request(path)
    problems = check_blacklist_names(request, blacklist_sources)
    for i, name in enumerate(request.user_files):
        if not (uploads_dir / name).is_file():
            available = sorted(p.name for p in uploads_dir.glob("*") if p.is_file())[:20]
            problems.append(
                {
                    "field": f"user_files[{i}]",
                    "problem": f"upload {name!r} is not in {uploads_dir}",
                    "fix": "upload the file first, or use one of: "
                    + (", ".join(available) or "none"),
                }
            )
    if problems:
        raise RequestError(problems)
    return request
