"""The campaign request: the legacy ``POST /campaigns/create`` body as a validated model.

Kept field for field from the legacy service (campaign_type, metadata, user_iins, filter_config,
deploy_options) plus what this project adds: ``user_files`` (uploads by name), ``control_group``
and ``strict_iin_checksum``. Unknown fields are refused rather than ignored, because a typo such
as ``mau_onyl`` silently widening an audience is the costliest kind of mistake here.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from campaign_pipelines.core.problems import ProblemsError


class CampaignType(StrEnum):
    RB1 = "RB1"
    RB3 = "RB3"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CampaignMetadata(_Strict):
    campaign_name: str = Field(min_length=1, max_length=200)
    campaign_desc: str | None = None
    stream: str | None = None
    sub_stream: str | None = None
    target_action: str | None = None
    channel: str | None = None
    campaign_type: str | None = None
    campaign_text: str | None = None
    campaign_text_kz: str | None = None
    short_desc: str | None = None
    date_start: date
    date_end: date
    out_date: date | None = None
    camp_cnt: int | None = Field(default=None, ge=0)
    bonus: str | None = None
    characteristic_json: str | None = None

    @field_validator("characteristic_json", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, str):
            json.loads(value)  # ValueError names the position of the JSON mistake
        return value

    @model_validator(mode="after")
    def _period(self) -> CampaignMetadata:
        if self.date_end < self.date_start:
            raise ValueError(f"date_end {self.date_end} is before date_start {self.date_start}")
        return self


class FilterConfig(_Strict):
    """Filters in the order they apply. ``blacklist_tables`` left out means every configured
    blacklist source; an explicit empty list means none."""

    blacklist_tables: list[str] | None = None
    devices: list[str] = []
    push_streams: list[str] = []
    mau_only: bool = False
    products: list[str] = []
    exclude_products: list[str] = []


STRATA = ("device", "mau", "product_count")


class ControlGroup(_Strict):
    share: float = Field(gt=0, lt=1)
    stratify_by: list[Literal["device", "mau", "product_count"]] = []
    seed: str | None = None


class DeployOptions(_Strict):
    deploy_metadata: bool = True
    deploy_targeting: bool = True
    deploy_users: bool = True
    deploy_offlimit: bool = True


_UPLOAD_NAME = re.compile(r"^[^/\\]+\.(csv|txt|xlsx|parquet)$", re.IGNORECASE)


class CampaignRequest(_Strict):
    campaign_type: CampaignType
    metadata: CampaignMetadata
    user_iins: list[str] = []
    user_files: list[str] = []
    filter_config: FilterConfig = FilterConfig()
    control_group: ControlGroup | None = None
    strict_iin_checksum: bool = False
    # Users held off-limit by a campaign overlapping this one (or ending within this many days
    # before it starts) are removed; None applies no off-limit filter.
    off_limit_days: int | None = Field(default=None, ge=0, le=365)
    deploy_options: DeployOptions = DeployOptions()
    # The campaign key or code this request replaces on purpose; without it, a request whose
    # key belongs to a campaign with different content is refused (see adapters/admission.py).
    replaces: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("user_iins", mode="before")
    @classmethod
    def _iins_as_text(cls, value: Any) -> Any:
        # JSON numbers arrive as int; core restores any leading zeros they lost.
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) else v for v in value]
        return value

    @field_validator("user_files")
    @classmethod
    def _plain_upload_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _UPLOAD_NAME.match(name) or name.startswith("."):
                raise ValueError(
                    f"{name!r} is not a file name in landing/uploads "
                    "(no folders; .csv, .txt, .xlsx or .parquet)"
                )
        return names

    @model_validator(mode="after")
    def _has_audience(self) -> CampaignRequest:
        if not self.user_iins and not self.user_files:
            raise ValueError("the request names no users: give user_iins or user_files")
        return self


def request_version(request: CampaignRequest) -> str:
    """The id of what a request builds: sha256 of its canonical JSON (``replaces`` left out,
    it says how the request was admitted, not what it builds), 16 hex digits. The same content
    always gives the same version, whatever the file's format, spelling or arrival."""
    canonical = request.model_dump_json(exclude={"replaces"})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


class RequestError(ProblemsError):
    """A request that cannot run; ``problems`` lists field, problem and fix for each mistake."""

    def __init__(self, problems: list[dict[str, str]]):
        super().__init__(problems)


def parse_request(text: str, *, yaml_syntax: bool = False) -> CampaignRequest:
    """A request from JSON (or YAML) text, or RequestError naming every bad field."""
    try:
        body = yaml.safe_load(text) if yaml_syntax else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        fix = "fix the syntax at that position" + (" (YAML)" if yaml_syntax else " (JSON)")
        raise RequestError([{"field": "<document>", "problem": str(error), "fix": fix}]) from None
    if not isinstance(body, dict):
        problem = f"the document is a {type(body).__name__}, not an object of request fields"
        raise RequestError([{"field": "<document>", "problem": problem, "fix": _SHAPE_FIX}])
    try:
        return CampaignRequest.model_validate(body)
    except ValidationError as error:
        raise RequestError(describe_validation_error(error)) from None


_SHAPE_FIX = "send an object with campaign_type, metadata and user_iins or user_files"


def describe_validation_error(error: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": _field_path(item["loc"]) or "<request>",
            "problem": item["msg"],
            "fix": _fix_for(item),
        }
        for item in error.errors(include_url=False)
    ]


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _fix_for(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind == "missing":
        return "add this field"
    if kind == "extra_forbidden":
        return "remove this field or correct its spelling"
    if kind == "enum":
        return f"use one of: {item.get('ctx', {}).get('expected', '')}"
    if kind == "literal_error":
        return f"use one of: {item.get('ctx', {}).get('expected', '')}"
    if kind.startswith("date"):
        return "write the date as YYYY-MM-DD"
    return "correct the value as the problem says"


def check_blacklist_names(request: CampaignRequest, configured: list[str]) -> list[dict[str, str]]:
    """Blacklists must be named sources from the reference config: request text never becomes
    SQL, it only selects among sources the operator configured."""
    named = request.filter_config.blacklist_tables or []
    return [
        unknown_name_problem(f"filter_config.blacklist_tables[{i}]", name, configured)
        for i, name in enumerate(named)
        if name not in configured
    ]


def blacklists_to_apply(request: CampaignRequest, configured: list[str]) -> list[str]:
    """The blacklist sources a request filters by: those it names, or, when it names none
    (``blacklist_tables`` absent), every configured source. RequestError for an unknown name."""
    problems = check_blacklist_names(request, configured)
    if problems:
        raise RequestError(problems)
    named = request.filter_config.blacklist_tables
    return list(configured) if named is None else list(named)


def unknown_name_problem(field: str, name: str, known: list[str] | set[str]) -> dict[str, str]:
    return {
        "field": field,
        "problem": f"unknown name {name!r}",
        "fix": "use one of: " + ", ".join(sorted(known)),
    }
