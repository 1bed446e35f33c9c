"""One SMS run's outcome journal: what it was about to hand to the provider, and what came of
each message, in a file beside the warehouse until the ledger has recorded it.

``<folder>/<campaign>/<claimer>.jsonl`` (the claimer's host/pid/start/run, ``/`` written ``_``),
mode 0600 (it holds phone numbers). The first line names the claimer; then two kinds of
line, JSON objects:

- ``{"try": [key, ...]}``: the next messages the run may give the provider, written and
  ``fsync``ed before the first of them is sent (one line, one fsync, per 25 messages: after a
  kill at most 25 are asked about, as many as when the ledger recorded every 25; one fsync
  per 10 cost 0.3 ms a message on the shared build disk). A key in no ``try`` line was never
  given to the provider by this run.
- ``{"k": key, "state": ..., "id": ..., "error": ..., "at": ..., "reason": ...}``: the outcome of
  one message (a RESULT_SCHEMA row), written after the provider answered, not fsynced on its
  own: the next ``try`` line's fsync carries it to the disk, and a power cut that loses it
  loses no fact, because its key is still in a ``try`` line and is asked about.

The file is created, and its folder entry fsynced, before the run's first send; it is
removed once the run's last record has committed and none of its rows was left ``sending``.
A runner that finds the ``sending`` rows of a dead claimer (sms_reconcile.py) reads the
claimer's journal: a row with an outcome takes it, a row tried without an outcome is asked
about (the provider's ``find_sent``), a row never tried goes back to ``queued`` without
asking. Without a journal (another host, or a file removed) every row is asked about.

A last line cut short by a kill is not a fact: reading skips a line that does not parse.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from campaign_pipelines.adapters.atomic_write import PRIVATE_MODE, fsync_folder

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
OUTCOME_FIELDS = {"k": "idempotency_key", "phone": "phone_e164", "state": "state",
                  "id": "provider_message_id", "error": "last_error", "at": "sent_at",
                  "reason": "suppress_reason"}


def journal_path(folder: Path, campaign: str, claimer: str) -> Path:
    return folder / campaign / f"{_UNSAFE.sub('_', claimer)}.jsonl"


class Journal:
    """The journal a run writes (see the module)."""

    def __init__(self, folder: Path, campaign: str, claimer: str):
        self.path = journal_path(folder, campaign, claimer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                           PRIVATE_MODE)
        self._write({"claimer": claimer, "campaign": campaign})
        os.fsync(self._fd)
        fsync_folder(self.path.parent)

    def trying(self, keys: list[str]) -> None:
        """Durable before the first of ``keys`` is sent."""
        if keys:
            self._write({"try": keys})
            os.fsync(self._fd)

    def outcome(self, row: dict) -> None:
        line = {short: row.get(name) for short, name in OUTCOME_FIELDS.items()}
        if isinstance(line["at"], datetime):
            line["at"] = line["at"].isoformat()
        self._write(line)

    def close(self, *, keep: bool) -> None:
        """``keep``: rows of this run are still ``sending`` and the next run must read it."""
        if keep:
            os.fsync(self._fd)
        os.close(self._fd)
        if not keep:
            self.path.unlink(missing_ok=True)

    def _write(self, line: dict) -> None:
        os.write(self._fd, json.dumps(line, ensure_ascii=False).encode() + b"\n")


@dataclass
class Recovered:
    """What a dead claimer's journal says: the keys it tried, and the outcomes it had."""

    exists: bool
    tried: set[str] = field(default_factory=set)
    outcomes: dict[str, dict] = field(default_factory=dict)  # key → RESULT_SCHEMA row


def read_journal(folder: Path, campaign: str, claimer: str) -> Recovered:
    path = journal_path(folder, campaign, claimer)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Recovered(exists=False)
    found = Recovered(exists=True)
    for line in raw.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if "try" in row:
            found.tried.update(row["try"])
        elif "k" in row:
            outcome = {name: row.get(short) for short, name in OUTCOME_FIELDS.items()}
            if outcome["sent_at"] is not None:
                outcome["sent_at"] = datetime.fromisoformat(outcome["sent_at"])
            found.outcomes[row["k"]] = outcome
    return found


def forget(folder: Path, campaign: str, claimer: str) -> None:
    """Removes a dead claimer's journal once its rows are recorded."""
    journal_path(folder, campaign, claimer).unlink(missing_ok=True)
