"""What sits in a landing folder, and the answer each entry is waiting for (DESIGN.md §3).

Listing looks at ``lstat`` only (on an object store: the listing's keys, times and sizes):
it never opens a file (a fifo would block, a large upload would cost a read per tick) and
never follows a symlink (a link could point anywhere on the host). Each entry directly in
``root/kind`` (the ``archive/`` and ``rejected/`` folders aside) is one ``Arrival`` with a
status:

- ``ready``: a regular file with an accepted extension and no change for ``QUIET_SECONDS``
  (a writer that writes in place instead of temp-then-rename may still be writing before);
- ``waiting``: modified within the quiet period, or a writer's temp file (hidden name or
  ``.tmp``) younger than ``ABANDONED_TEMP_SECONDS``; ``reason`` says which;
- ``refused``: anything else (an unknown or missing extension, a folder, a symlink, a fifo, a
  socket, a temp file nobody renamed in a day); ``problem`` holds field, problem and fix, ready
  for ``LandingZone.reject(path, {"problems": [problem]})``.

Only ``Arrival.identify`` reads content: the sha256 of a ready file and an arrival id built
from it and the modification time, which a rename keeps.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from campaign_pipelines.adapters.storage import storage_for
from campaign_pipelines.adapters.storage_entry import Entry

QUIET_SECONDS = 5
ABANDONED_TEMP_SECONDS = 24 * 60 * 60
ARCHIVE = "archive"
REJECTED = "rejected"
TEMP_SUFFIX = ".tmp"

Status = Literal["ready", "waiting", "refused"]


def is_temp_name(name: str) -> bool:
    """The names writers use before their rename (``write_atomic`` makes ``.name.xyz.tmp``)."""
    return name.startswith(".") or name.endswith(TEMP_SUFFIX)


def normalise_suffixes(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """``("json", ".YAML")`` → ``(".json", ".yaml")``: callers may write either."""
    return tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)


@dataclass(frozen=True)
class Arrival:
    """One entry of a landing folder as listed (``lstat`` only) and the answer it gets."""

    path: Path
    name: str
    mtime_ns: int
    status: Status
    problem: dict | None = None  # field, problem, fix; only when refused
    reason: str | None = None  # only when waiting

    def identify(self) -> tuple[str, str] | None:
        """``(sha256 hex, arrival id)`` of a ready file; the id is ``<sha256[:16]>-<mtime_ns>``,
        stable across renames, new when the bytes or the modification time change.

        None when the file is gone (another reader took it) or is no longer what was listed
        (rewritten, or swapped for a symlink): the next listing sees it afresh."""
        if self.status != "ready":
            raise ValueError(f"{self.name} is {self.status}: only a ready arrival has an id")
        read = read_regular_file(self.path)
        if read is None or read[1].mtime_ns != self.mtime_ns:
            return None
        digest = read[0]
        return digest, f"{digest[:16]}-{self.mtime_ns}"


def list_arrivals(
    folder: Path,
    suffixes: tuple[str, ...],
    *,
    quiet_seconds: float = QUIET_SECONDS,
    abandoned_seconds: float = ABANDONED_TEMP_SECONDS,
    now: float | None = None,
) -> list[Arrival]:
    """Every entry of ``folder`` but ``archive/`` and ``rejected/``, oldest first (mtime, then
    name, so that entries of the same instant still come in a stable order). ``now`` is epoch
    seconds (``time.time()`` when None). ``folder`` may be on an object store (storage.py)."""
    now_ns = time.time_ns() if now is None else round(now * 1e9)
    rule = _Rule(normalise_suffixes(suffixes), now_ns, quiet_seconds, abandoned_seconds)
    found = []
    for entry in storage_for(folder).scan(folder):
        if entry.name in (ARCHIVE, REJECTED) and stat.S_ISDIR(entry.mode):
            continue
        found.append(rule.classify(entry))
    return sorted(found, key=lambda arrival: (arrival.mtime_ns, arrival.name))


def entry_kind(mode: int) -> str:
    """What an entry is, in a word for a person, from its ``lstat`` mode alone."""
    kinds = [(stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symlink"),
             (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
             (stat.S_ISBLK, "device")]
    return next((word for test, word in kinds if test(mode)), "special file")


def describe_entry(path: Path, entry: Entry) -> str:
    """``entry_kind``, and for a symlink its target, read from the link, never followed."""
    kind = entry_kind(entry.mode)
    if kind == "symlink":
        try:
            return f"symlink to {os.readlink(path)!r}"
        except OSError:  # removed or replaced since it was looked at
            return kind
    return kind


def read_regular_file(path: Path) -> tuple[str, Entry] | None:
    """sha256 hex and the entry of the regular file at ``path``, read without following a
    symlink; None when it is gone, is not a regular file, or changed while being read."""
    return storage_for(path).digest(path)


def is_still(path: Path, read: Entry) -> bool:
    """Whether ``path`` still names the very file that was read (not a new one put over it:
    inode locally, ETag on a store). A check, not a lock: writers choose unique names, so a
    swap in between is unlikely."""
    now = storage_for(path).lstat(path)
    return now is not None and now.version == read.version


def sha256_hex(handle) -> str:
    """sha256 of an open binary file, streamed so a large upload does not fill memory."""
    return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class _Rule:
    wanted: tuple[str, ...]
    now_ns: int
    quiet_seconds: float
    abandoned_seconds: float

    def classify(self, entry: Entry) -> Arrival:
        path, name, mtime_ns = entry.path, entry.name, entry.mtime_ns
        age = (self.now_ns - mtime_ns) / 1e9
        if not stat.S_ISREG(entry.mode):
            problem = _not_a_file(path, entry_kind(entry.mode))
            return Arrival(path, name, mtime_ns, "refused", problem=problem)
        if is_temp_name(name):
            if age < self.abandoned_seconds:
                reason = (
                    f"a writer's temp file (hidden or {TEMP_SUFFIX} name), modified {age:.0f}s "
                    f"ago; it is refused as abandoned after {self.abandoned_seconds:.0f} s"
                )
                return Arrival(path, name, mtime_ns, "waiting", reason=reason)
            return Arrival(path, name, mtime_ns, "refused", problem=_abandoned(name, age))
        if not name.lower().endswith(self.wanted):
            return Arrival(path, name, mtime_ns, "refused", problem=self._bad_extension(name))
        if self.quiet_seconds > 0 and age < self.quiet_seconds:
            reason = (
                f"still being written: modified {age:.1f}s ago; "
                f"readers wait {self.quiet_seconds:g} s of quiet"
            )
            return Arrival(path, name, mtime_ns, "waiting", reason=reason)
        return Arrival(path, name, mtime_ns, "ready")

    def _bad_extension(self, name: str) -> dict:
        listed = ", ".join(self.wanted)
        stem, dot, extension = name.rpartition(".")
        said = f"'.{extension}' is not one of {listed}" if stem else f"no extension ({listed})"
        return {
            "field": "file",
            "problem": f"{name}: {said}",
            "fix": f"save it as {stem or name}{self.wanted[0]} (or another of {listed}) "
            "and land it again",
        }


def _not_a_file(path: Path, what: str) -> dict:
    name = path.name
    if what == "symlink":
        return {
            "field": "file",
            "problem": f"{name} is a {what}: symlinks are not accepted in the landing zone",
            "fix": f"copy the file in instead (write it to a temp name in {path.parent}, "
            "then rename it)",
        }
    if what == "folder":
        return {
            "field": "file",
            "problem": f"{name} is a folder: only files directly in {path.parent} are read",
            "fix": f"land each file inside it in {path.parent} on its own",
        }
    return {
        "field": "file",
        "problem": f"{name} is a {what}, not a regular file",
        "fix": f"land a regular file in {path.parent} (write it to a temp name, then rename it)",
    }


def _abandoned(name: str, age: float) -> dict:
    return {
        "field": "file",
        "problem": f"{name} is a temp file last modified {age / 3600:.0f} h ago: an abandoned "
        "partial write, which its writer never renamed into place",
        "fix": "land the file again (write it to a temp name, then rename it); this copy is "
        "kept in rejected/ for inspection",
    }
