"""The campaign request: the legacy ``POST /campaigns/create`` body as a validated model.

Kept field for field from the legacy service (campaign_type, metadata, user_iins, filter_config,
deploy_options) plus what this project adds: ``user_files`` (uploads by name), ``control_group``
and ``strict_iin_checksum``. Unknown fields are refused rather than ignored, because a typo such
as ``mau_onyl`` silently widening an audience is the costliest kind of mistake here.

parse_request reads the text with core/request_text.py, which decides its size, duplicate keys,
YAML typing and aliases, then validates the values here. Decisions about the values:
- A ``user_iins`` item in JSON must be text or a whole number; a float is refused, it may have
  lost digits. (In YAML every item is already the text as written.)
- Every stored field is bounded as its warehouse column is (adapters/warehouse/ddl.py): names
  200 and texts 4000 characters (Oracle's ``VARCHAR2(n CHAR)`` counts characters, so a Kazakh
  or Russian name fits as well as a Latin one), and no text over the 4000 UTF-8 bytes any
  VARCHAR2 holds whatever its length says (a Cyrillic letter is 2 bytes); camp_cnt
  0..999999999999 (NUMBER(12)), dates 2000-01-01..2100-12-31; control_group.seed 64 characters.
- No refused value is echoed in a problem (it may be an IIN).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.request_text import (
    MAX_REQUEST_BYTES as MAX_REQUEST_BYTES,  # re-exported: admission refuses big files unread
)
from campaign_pipelines.core.request_text import load_request_text, unique_keys

CAMP_CNT_MAX = 999_999_999_999  # NUMBER(12)
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
# The warehouse columns of the "name" and "text" kinds hold this many characters
# (adapters/warehouse/ddl.py); a VARCHAR2 of any declared length holds at most 4000 bytes
# (MAX_STRING_SIZE = STANDARD, Oracle's default), so a 4000-character text must fit both.
NAME_CHARS, TEXT_CHARS = 200, 4000
VARCHAR2_MAX_BYTES = 4000


def _refusal(kind: str, problem: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError(kind, problem, {"fix": fix})


def _fits(limit: int) -> AfterValidator:
    """At most ``limit`` characters, and at most the bytes a VARCHAR2 holds at all."""

    def check(value: str) -> str:
        if len(value) > limit:
            raise _refusal(
                "too_long_for_column",
                f"is {len(value)} characters, more than the {limit} its warehouse column holds",
                f"shorten it to at most {limit} characters",
            )
        size = len(value.encode("utf-8"))
        if size > VARCHAR2_MAX_BYTES:
            raise _refusal(
                "too_long_for_column",
                f"is {size} bytes in UTF-8, more than the {VARCHAR2_MAX_BYTES} an Oracle "
                "VARCHAR2 column holds whatever its length in characters",
                f"shorten it to at most {VARCHAR2_MAX_BYTES} bytes (a Cyrillic letter takes 2)",
            )
        return value

    return AfterValidator(check)


def _within_dates(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise _refusal(
            "date_out_of_range",
            f"{day} is outside {FIRST_DAY}..{LAST_DAY}",
            f"use a date between {FIRST_DAY} and {LAST_DAY}",
        )
    return day


def _whole(value: Any) -> Any:
    # JSON's 1e20 is a float: as an int it meets the bound and is refused naming it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _iin_item(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise _refusal(
            "iin_not_text",
            f"is a {'boolean' if isinstance(value, bool) else 'decimal number'}, not an IIN: "
            "a number with a point or an exponent may have lost digits",
            'write each IIN as text in quotes, e.g. "010203040506"',
        )
    return str(value) if isinstance(value, int) else value  # core restores lost zeros


Name = Annotated[str, _fits(NAME_CHARS)]
Text = Annotated[str, _fits(TEXT_CHARS)]
Day = Annotated[date, AfterValidator(_within_dates)]
IinText = Annotated[str, BeforeValidator(_iin_item)]


class CampaignType(StrEnum):
    RB1 = "RB1"
    RB3 = "RB3"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CampaignMetadata(_Strict):
    campaign_name: Name = Field(min_length=1)
    campaign_desc: Text | None = None
    stream: Name | None = None
    sub_stream: Name | None = None
    target_action: Name | None = None
    channel: Name | None = None
    campaign_type: Name | None = None
    campaign_text: Text | None = None
    campaign_text_kz: Text | None = None
    short_desc: Text | None = None
    date_start: Day
    date_end: Day
    out_date: Day | None = None
    camp_cnt: Annotated[int, BeforeValidator(_whole)] | None = Field(
        default=None, ge=0, le=CAMP_CNT_MAX
    )
    bonus: Text | None = None
    characteristic_json: Text | None = None

    @field_validator("characteristic_json", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, str):  # ValueError names the JSON mistake's position or key
            try:
                json.loads(value, object_pairs_hook=unique_keys)
            except RecursionError:
                raise ValueError("the JSON text nests too deeply") from None
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
    seed: str | None = Field(default=None, max_length=64)


class DeployOptions(_Strict):
    deploy_metadata: bool = True
    deploy_targeting: bool = True
    deploy_users: bool = True
    deploy_offlimit: bool = True


_UPLOAD_NAME = re.compile(r"^[^/\\]+\.(csv|txt|xlsx|parquet)$", re.IGNORECASE)


class CampaignRequest(_Strict):
    campaign_type: CampaignType
    metadata: CampaignMetadata
    user_iins: list[IinText] = []
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
    # Filled at admission (any value in the file is replaced): the sha256 of each upload, so
    # the version covers the uploads' content and a run refuses an upload changed since.
    user_files_sha256: dict[str, str] = {}

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
    it says how the request was admitted, not what it builds; the uploads' digests in), 16 hex
    digits. The same content always gives the same version, whatever the file's format,
    spelling or arrival; the same request over a changed upload is another version."""
    canonical = request.model_dump_json(exclude={"replaces"})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# An event name as the client events spell it (sources.client_events.event): what a campaign's
# outcome counts as converting (metrics/campaign_outcomes).
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def target_event(metadata: CampaignMetadata) -> str | None:
    """The event a campaign wants its target group to do: ``metadata.target_action`` when it is
    spelled as an event name, else None. The field is the legacy TARGET_ACTION, free text that
    is deployed as written; it is read here rather than validated at admission, so no request
    admitted before is refused and no request version changes."""
    action = metadata.target_action
    return action if action is not None and EVENT_NAME.fullmatch(action) else None


class RequestError(ProblemsError):
    """A request that cannot run; ``problems`` lists field, problem and fix for each mistake."""

    def __init__(self, problems: list[dict[str, str]]):
        super().__init__(problems)


def parse_request(text: str, *, yaml_syntax: bool = False) -> CampaignRequest:
    """A request from JSON (or YAML) text, or RequestError naming every bad field."""
    try:
        body = load_request_text(text, yaml_syntax=yaml_syntax)
    except ProblemsError as error:
        raise RequestError(error.problems) from None
    return request_from(body)


def request_from(body: object) -> CampaignRequest:
    """A request from a parsed document (a file's, or a JSON body's), or RequestError naming
    every bad field."""
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
    kind, context = item["type"], item.get("ctx", {})
    if "fix" in context:
        return context["fix"]
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
    if kind in ("less_than_equal", "greater_than_equal"):
        bound = context.get("le", context.get("ge"))
        return f"use a value of at {'most' if kind == 'less_than_equal' else 'least'} {bound}"
    if kind == "string_too_long":
        return f"shorten it to at most {context.get('max_length')} characters"
    if kind == "int_from_float":
        return "write a whole number"
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
    """A name a request filters by that is not among the ``known`` ones (configured blacklist
    sources; the reference vocabulary's devices, push streams or products), with the fix."""
    fix = ("use one of: " + ", ".join(sorted(known)) if known
           else "leave it out: there is no name of this kind to filter by")
    return {"field": field, "problem": f"unknown name {name!r}", "fix": fix}
