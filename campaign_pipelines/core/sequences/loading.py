"""Sequence definitions read from their files, each checked whole before it is used: the
YAML against the model (``definition.py``) and every template rendered for every segment
(``render.py``), so a broken definition stops at load, not at the first send."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.request_text import load_request_text
from campaign_pipelines.core.sequences.definition import SequenceDefinition
from campaign_pipelines.core.sequences.render import check_templates


def load_sequence(path: Path) -> SequenceDefinition:
    """The definition in ``path``; ProblemsError naming the field and the fix."""
    where = str(path)
    document = load_request_text(path.read_text(encoding="utf-8"), yaml_syntax=True)
    try:
        definition = SequenceDefinition.model_validate(
            {**(document if isinstance(document, dict) else {"": document}),
             "folder": str(path.parent)})
    except ValidationError as error:
        raise ProblemsError([
            {"field": ".".join(map(str, e["loc"])) or "<document>", "problem": e["msg"],
             "fix": "see campaign_pipelines/config/sequences/christmas.yaml for the format"}
            for e in error.errors()], where) from None
    check_templates(definition, where)
    return definition


def load_sequences(folder: Path) -> dict[str, SequenceDefinition]:
    """Every ``*.yaml`` in ``folder``, by sequence name (the file's stem must be that name)."""
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        definition = load_sequence(path)
        if definition.sequence != path.stem:
            raise ProblemsError([{"field": "sequence", "problem":
                                  f"{definition.sequence!r} in a file named {path.name}",
                                  "fix": "name the file after its sequence"}], str(path))
        found[definition.sequence] = definition
    return found
