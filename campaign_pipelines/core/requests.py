"""The campaign request: the legacy ``POST /campaigns/create`` body as a validated model.

Kept field for field from the legacy service (campaign_type, metadata, user_iins, filter_config,
deploy_options) plus what this project adds: ``user_files`` (uploads by name), ``control_group``
and ``strict_iin_checksum``. Unknown fields are refused rather than ignored, because a typo such
as ``mau_onyl`` silently widening an audience is the costliest kind of mistake here.

Decisions about the request text (parse_request):
- At most MAX_REQUEST_BYTES (16 MiB of UTF-8), checked before parsing; long IIN lists belong in
  an upload named in ``user_files``.
- A key given twice anywhere (JSON or YAML) is refused naming its path and both lines: a
  parser would silently keep the last one, e.g. an empty ``blacklist_tables`` after the list.
- YAML is typed by the YAML 1.2 core schema, not PyYAML's 1.1: booleans are only true/false,
  integers are decimal (``050000`` is 50000, never octal), ``0o``/``0x`` are explicit, and
  there are no sexagesimals (``1:30``) or timestamps. Dates stay text, which the model reads
  as YYYY-MM-DD exactly as before; a date inside ``characteristic_json`` stays text too.
- ``user_iins`` items in YAML are the scalar text as written (``010203040506`` keeps its zero):
  the composed node's text is used instead of any typed value, so no YAML rule touches an IIN.
  In JSON an item must be text or a whole number; a float is refused, it may have lost digits.
- YAML anchors and aliases are refused: a request never needs them, and refusing the first
  reuse of a node stops an alias bomb before anything is built. Python tags stay refused.
- Every stored field is bounded as its warehouse column is (core/deployment.py TYPES): names
  200 and texts 4000 UTF-8 bytes (VARCHAR2 counts bytes; a Cyrillic letter is 2), camp_cnt
  0..999999999999 (NUMBER(12)), dates 2000-01-01..2100-12-31; control_group.seed 64 characters.
- A problem never quotes the document's text: YAML errors give line and column, not a snippet,
  and no refused value is echoed (it may be an IIN).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
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

MAX_REQUEST_BYTES = 16 * 1024 * 1024
CAMP_CNT_MAX = 999_999_999_999  # NUMBER(12)
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
NAME_BYTES, TEXT_BYTES = 200, 4000  # VARCHAR2 sizes of deployment TYPES "name" and "text"


def _refusal(kind: str, problem: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError(kind, problem, {"fix": fix})


def _fits(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        size = len(value.encode("utf-8"))
        if size > limit:
            raise _refusal(
                "too_long_for_column",
                f"is {size} bytes in UTF-8, more than the {limit} its warehouse column holds",
                f"shorten it to at most {limit} bytes (a Cyrillic letter takes 2)",
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


Name = Annotated[str, _fits(NAME_BYTES)]
Text = Annotated[str, _fits(TEXT_BYTES)]
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
            json.loads(value, object_pairs_hook=_unique_keys)
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
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        problem = f"the request is {size} bytes, more than the {MAX_REQUEST_BYTES} allowed"
        fix = "put long IIN lists in a file in landing/uploads and name it in user_files"
        raise RequestError([{"field": "<document>", "problem": problem, "fix": fix}])
    body = _load_yaml(text) if yaml_syntax else _load_json(text)
    if not isinstance(body, dict):
        problem = f"the document is a {type(body).__name__}, not an object of request fields"
        raise RequestError([{"field": "<document>", "problem": problem, "fix": _SHAPE_FIX}])
    try:
        return CampaignRequest.model_validate(body)
    except ValidationError as error:
        raise RequestError(describe_validation_error(error)) from None


_SHAPE_FIX = "send an object with campaign_type, metadata and user_iins or user_files"
# Finding the lines of a JSON duplicate means composing the text once more: small texts only.
_LOCATE_DUPLICATES_BELOW = 1024 * 1024


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(f"the key {key!r} is given twice")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return body


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        fix = "fix the syntax at that position (JSON)"
        raise RequestError([{"field": "<document>", "problem": str(error), "fix": fix}]) from None
    except RecursionError:  # libyaml stops at the same depth with its own message
        problem = "the document nests lists or objects too deeply for a request"
        fix = "send one object of request fields, as the README shows"
        raise RequestError([{"field": "<document>", "problem": problem, "fix": fix}]) from None
    except _DuplicateKey as duplicate:
        if len(text) < _LOCATE_DUPLICATES_BELOW:
            try:  # JSON is YAML: the composed nodes' marks give the path and both lines
                _check_nodes(_RequestLoader(text).get_single_node())
            except yaml.YAMLError:
                pass
        field, problem = duplicate.key, str(duplicate)
        raise RequestError([{"field": field, "problem": problem, "fix": "keep one"}]) from None


class _RequestLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML with the 1.2 core schema's implicit types and nothing else. libyaml's parser
    when installed (the same safe constructors as SafeLoader): a 16 MiB list of IINs parses in
    seconds instead of minutes."""

    yaml_implicit_resolvers: dict = {}


for _tag, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
):
    _first_chars = [*_first, ""] if _tag == "null" else list(_first)
    _RequestLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first_chars
    )


def _yaml12_int(loader: _RequestLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


_RequestLoader.add_constructor("tag:yaml.org,2002:int", _yaml12_int)


def _load_yaml(text: str) -> Any:
    loader = _RequestLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_nodes(root)
        body = loader.construct_document(root)
    except RequestError:
        raise
    except (yaml.YAMLError, ValueError) as error:  # a bad explicit tag such as !!int x
        problem = _yaml_problem(error)
        fix = "fix the syntax at that position (YAML)"
        raise RequestError([{"field": "<document>", "problem": problem, "fix": fix}]) from None
    finally:
        loader.dispose()
    if isinstance(body, dict) and isinstance(body.get("user_iins"), list):
        for key, value in root.value:
            if key.value == "user_iins" and isinstance(value, yaml.SequenceNode):
                body["user_iins"] = [
                    node.value if isinstance(node, yaml.ScalarNode) else built
                    for node, built in zip(value.value, body["user_iins"], strict=True)
                ]
    return body


def _yaml_problem(error: Exception) -> str:
    """The parser's words and position, without the snippet of text it would quote."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return "a value does not fit the !!tag written before it"  # its text may be an IIN
    words = " ".join(filter(None, [error.context, error.problem]))
    mark = error.problem_mark or error.context_mark
    return f"{words} (line {mark.line + 1}, column {mark.column + 1})" if mark else words


def _check_nodes(root: yaml.Node) -> None:
    """Refuses a node met twice (an alias) and a key given twice, in document order, before
    anything is built: an alias bomb stops at its first alias, in time linear in its text."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            problem = (
                "anchors and aliases are not accepted in a request (this reuses the value "
                f"anchored at line {node.start_mark.line + 1})"
            )
            raise RequestError([{"field": path, "problem": problem, "fix": "write the values out"}])
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            items = [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
            stack.extend(reversed(items))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(reversed(_mapping_children(node, path)))


def _mapping_children(node: yaml.MappingNode, path: str) -> list[tuple[yaml.Node, str]]:
    lines: dict[str, int] = {}
    children = []
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else "<key>"
        field = f"{path}.{name}" if path else name
        line = key.start_mark.line + 1
        if isinstance(key, yaml.ScalarNode) and name in lines:
            problem = f"the key {name!r} is given twice (lines {lines[name]} and {line})"
            raise RequestError([{"field": field, "problem": problem, "fix": "keep one"}])
        lines[name] = line
        children += [(key, field), (value, field)]
    return children


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
    return {
        "field": field,
        "problem": f"unknown name {name!r}",
        "fix": "use one of: " + ", ".join(sorted(known)),
    }
