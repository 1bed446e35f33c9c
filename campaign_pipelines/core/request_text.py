"""A request's text read into plain values (JSON, or YAML under the 1.2 core schema), before
core/requests.py validates them as a CampaignRequest.

Decisions about the request text (``load_request_text``, called by ``parse_request``):
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
- YAML anchors and aliases are refused: a request never needs them, and refusing the first
  reuse of a node stops an alias bomb before anything is built. Python tags stay refused.
- A problem never quotes the document's text: YAML errors give line and column, not a snippet.

Refusals are ProblemsError; parse_request reports them as RequestError.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from campaign_pipelines.core.problems import ProblemsError

MAX_REQUEST_BYTES = 16 * 1024 * 1024
# Finding the lines of a JSON duplicate means composing the text once more: small texts only.
_LOCATE_DUPLICATES_BELOW = 1024 * 1024


def load_request_text(text: str, *, yaml_syntax: bool = False) -> Any:
    """The document's values, or ProblemsError for text too large or unreadable as a request."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        problem = f"the request is {size} bytes, more than the {MAX_REQUEST_BYTES} allowed"
        fix = "put long IIN lists in a file in landing/uploads and name it in user_files"
        raise ProblemsError([{"field": "<document>", "problem": problem, "fix": fix}])
    return _load_yaml(text) if yaml_syntax else _load_json(text)


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(f"the key {key!r} is given twice")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for json.loads: a ValueError naming the first key given twice."""
    body = dict(pairs)
    if len(body) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return body


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as error:
        fix = "fix the syntax at that position (JSON)"
        raise ProblemsError([{"field": "<document>", "problem": str(error), "fix": fix}]) from None
    except RecursionError:  # libyaml stops at the same depth with its own message
        problem = "the document nests lists or objects too deeply for a request"
        fix = "send one object of request fields, as the README shows"
        raise ProblemsError([{"field": "<document>", "problem": problem, "fix": fix}]) from None
    except _DuplicateKey as duplicate:
        if len(text) < _LOCATE_DUPLICATES_BELOW:
            try:  # JSON is YAML: the composed nodes' marks give the path and both lines
                _check_nodes(_RequestLoader(text).get_single_node())
            except yaml.YAMLError:
                pass
        field, problem = duplicate.key, str(duplicate)
        raise ProblemsError([{"field": field, "problem": problem, "fix": "keep one"}]) from None
    # After _DuplicateKey (a ValueError too): e.g. an integer of over 4300 digits.
    except ValueError as error:
        problem = f"the document holds a value JSON cannot give here ({type(error).__name__})"
        fix = "write numbers of at most 12 digits; put IINs in quotes"
        raise ProblemsError([{"field": "<document>", "problem": problem, "fix": fix}]) from None


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
    except ProblemsError:
        raise
    except (yaml.YAMLError, ValueError) as error:  # a bad explicit tag such as !!int x
        problem = _yaml_problem(error)
        fix = "fix the syntax at that position (YAML)"
        raise ProblemsError([{"field": "<document>", "problem": problem, "fix": fix}]) from None
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
            fix = "write the values out"
            raise ProblemsError([{"field": path, "problem": problem, "fix": fix}])
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
            raise ProblemsError([{"field": field, "problem": problem, "fix": "keep one"}])
        lines[name] = line
        children += [(key, field), (value, field)]
    return children
