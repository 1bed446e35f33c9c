"""The landing zone (DESIGN.md §3): where everything that arrives from outside lands as a file.

Every file that arrives gets an answer: it moves to ``<kind>/archive/`` (processed), or to
``<kind>/rejected/`` beside ``<name>.error.json`` (refused: field, problem, fix), or it has a
documented reason to wait. Every sensor and the CLI follow the same steps:

1. ``arrivals(kind, suffixes)`` lists every entry with its answer, looking at ``lstat`` only:
   ready; waiting (still being written: modified within ``QUIET_SECONDS``; or a writer's temp
   file younger than ``ABANDONED_TEMP_SECONDS``); or refused (unknown or missing extension, a
   folder, a symlink, a fifo or socket, an abandoned temp file).
2. A refused entry goes to ``reject(path, {"problems": [arrival.problem]})``; a folder or a
   symlink moves itself, a link's target is never touched.
3. A ready one is identified by its content (``arrival.identify()``: sha256 and an arrival id
   from it and the mtime) and admitted or rejected; evaluating this twice changes nothing.
4. The run that admitted it calls ``take(path, fingerprint)`` once it has taken the file: into
   ``archive/`` only if the bytes are still the admitted ones, else it is a new arrival.

Contract, the same on a local disk and on object storage (``root`` from ``CAMPAIGN_DATA_URL``;
adapters/storage.py says how each keeps it):
- writers write a hidden temp file in the target folder, fsync it, then ``os.replace`` it into
  place, so a reader never sees half a file; readers wait for temp files (on a store: one PUT,
  whole or absent);
- readers never delete: every move is an ``os.replace`` inside one folder tree (atomic); on a
  store a copy then a delete, whose repeat after a crash reuses the copy (nothing twice);
- a move never overwrites: a name already taken gets a UTC timestamp, so nothing is lost;
- files the zone writes (landed files, ``.error.json``) get ``FILE_MODE`` 0o640: the operators'
  group can read them whatever the umask; moved files keep the mode they arrived with;
- a write the OS refuses (an unwritable folder, a full disk) raises ``LandingError``, an
  ``OSError`` naming the folder, the errno and the fix; the arrived file stays where it was,
  never half moved, and no temp file or lone report is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from campaign_pipelines.adapters.landing_arrivals import (
    ABANDONED_TEMP_SECONDS,
    ARCHIVE,
    QUIET_SECONDS,
    REJECTED,
    Arrival,
    describe_entry,
    is_still,
    is_temp_name,
    list_arrivals,
    read_regular_file,
    sha256_hex,
)
from campaign_pipelines.adapters.landing_errors import LandingError, landing_errors
from campaign_pipelines.adapters.storage import Storage, as_path, same_place, storage_for

__all__ = [
    "ABANDONED_TEMP_SECONDS", "FILE_MODE", "KINDS", "QUIET_SECONDS", "Arrival", "LandingError",
    "LandingZone", "file_fingerprint", "write_file_atomic",
]

KINDS = frozenset({"uploads", "campaigns", "signups", "unsubscribes", "sms", "sms_events",
                   "commands", "assignments"})
ERROR_SUFFIX = ".error.json"
# Written files (landed files, .error.json reports) are readable by the owner's group, the
# operators who inspect rejected/ (mkstemp alone makes 0600); nobody else may read customer
# data. Give the folders that group, or the setgid bit, so new files inherit it.
FILE_MODE = 0o640
# How long a claim on an arrival (object store) waits for its run before another evaluation
# may take it over: a sensor's run is created seconds after its tick.
CLAIM_LEASE_S = 120.0


@dataclass(frozen=True)
class LandingZone:
    root: Path  # $CAMPAIGN_DATA_URL/landing: a Path, or a UPath on an object store

    @property
    def storage(self) -> Storage:
        return storage_for(self.root)

    def folder(self, kind: str) -> Path:
        """``root/kind``, created on first use so a fresh deployment needs no setup step."""
        if kind not in KINDS:
            raise ValueError(f"unknown landing kind {kind!r}; expected one of {sorted(KINDS)}")
        path = self.root / kind
        doing = f"create the landing folder {path}"
        with landing_errors(doing, (self.root,), "Nothing was written."):
            self.storage.make_folder(path)
        return path

    def arrivals(
        self,
        kind: str,
        suffixes: tuple[str, ...],
        *,
        quiet_seconds: float = QUIET_SECONDS,
        abandoned_seconds: float = ABANDONED_TEMP_SECONDS,
        now: float | None = None,
    ) -> list[Arrival]:
        """Every entry in ``root/kind`` with its answer: ready, waiting (and why) or refused
        (and the problem), oldest first; stat only (see ``landing_arrivals``). On an object
        store nothing is written in place, so nothing waits for a quiet period."""
        return list_arrivals(
            self.folder(kind),
            suffixes,
            quiet_seconds=quiet_seconds if self.storage.writes_in_place else 0,
            abandoned_seconds=abandoned_seconds,
            now=now,
        )

    def write_atomic(self, kind: str, name: str, data: bytes) -> Path:
        """Lands ``data`` as ``root/kind/name``, all or nothing.

        Writing the same bytes again returns the existing file (a retried request); different
        bytes under a taken name raise ``FileExistsError`` instead of replacing a file that
        has not been processed yet (``Storage.land``: locally writers choose unique names and
        the check is not a lock; on a store a PUT with ``If-None-Match: *``, so of two writers
        of one name, say two ingress replicas, one lands and the other is told). Names a
        reader would skip (hidden, ``.tmp``) are refused: they would never be read.
        """
        _check_name(name)
        target = self.folder(kind) / name
        left = f"Nothing was landed: no part of {name} is in {target.parent}."
        with landing_errors(f"land {name} in {target.parent}", (target.parent,), left):
            if self.storage.land(target, data, FILE_MODE):
                return target
        if target.read_bytes() == data:
            return target  # a retried request
        raise FileExistsError(f"{target} already exists with different content")

    def claim(self, kind: str, arrival_id: str, by: str) -> bool:
        """Whether this evaluation may request the run for ``arrival_id``: on an object store
        the first of two sensor evaluations (two pods, two ticks at once) to create the
        arrival's claim object wins and the other waits for its run; a claim whose run never
        came is taken over after ``CLAIM_LEASE_S``. Locally always True (storage.py). The claim
        object says who took it (``by``, host, process) for whoever looks in the bucket."""
        name = hashlib.sha256(arrival_id.encode("utf-8")).hexdigest()[:32]
        folder = self.root.parent / "landing_claims" / kind
        body = {"arrival": arrival_id, "by": by, "host": socket.gethostname(), "pid": os.getpid()}
        text = json.dumps(body, ensure_ascii=False).encode("utf-8")
        with landing_errors(f"claim {arrival_id} in {folder}", (folder,), "Nothing was moved."):
            return self.storage.claim(folder, name, text, CLAIM_LEASE_S, time.time())

    def archive(self, path: Path) -> Path:
        """Moves a processed file into ``root/kind/archive/`` and returns its new path."""
        path = as_path(path)
        with _moving("archive", path, ARCHIVE):
            return _move(path, self._subfolder(path, ARCHIVE))

    def take(self, path: Path, fingerprint: str) -> Path | None:
        """What a run calls once it has taken the file it was admitted for: moves it into
        ``archive/`` only if it is still there with that exact sha256, and returns the archived
        path. None when it is gone (a retried step, another reader) or its content changed:
        then it is a new arrival, the sensor's to answer, and stays where it is."""
        path = as_path(path)
        self._kind_folder(path)
        read = read_regular_file(path)
        if read is None or read[0] != fingerprint or not is_still(path, read[1]):
            return None
        try:
            with _moving("take", path, ARCHIVE):
                return _move(path, self._subfolder(path, ARCHIVE))
        except FileNotFoundError:
            if self.storage.taken(path):
                raise
            return None  # taken by another reader between the check and the move

    def reject(self, path: Path, error: dict) -> Path:
        """Moves a refused entry into ``root/kind/rejected/`` with ``<name>.error.json`` beside
        it, and returns its new path. Any entry: a folder or a symlink moves itself (a link is
        renamed, its target never touched); the report says what it was (``entry``).

        The report is written first: if the move then fails, the report is removed and the
        entry is still where it arrived, to be answered again. (If the process dies between
        the two, a report without its entry is left in ``rejected/``; the entry itself is
        still in the landing folder.)
        """
        path = as_path(path)
        self._kind_folder(path)
        entry = self.storage.lstat(path)
        if entry is None:
            raise FileNotFoundError(path)
        report = {
            **error,
            "file": path.name,
            "entry": describe_entry(path, entry),
            "rejected_at": datetime.now(UTC).isoformat(),
        }
        text = json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"
        with _moving("reject", path, REJECTED):
            folder, storage = self._subfolder(path, REJECTED), self.storage
            earlier = storage.earlier_copy(path, folder)
            if earlier is not None:  # a reject that died between its copy and its delete
                storage.delete(path)
                return earlier
            target = _free_target(storage, folder, path.name, also_free=ERROR_SUFFIX)
            report_path = folder / f"{target.name}{ERROR_SUFFIX}"
            write_file_atomic(report_path, text.encode("utf-8"))
            try:
                storage.move(path, target)
            except BaseException:
                if not storage.taken(target):
                    storage.delete(report_path)
                raise
        return target

    def _kind_folder(self, path: Path) -> Path:
        """``root/kind`` for an entry that sits directly in it; ValueError for anything else."""
        kind_folder = path.parent
        inside = same_place(kind_folder.parent, self.root)
        if not inside or kind_folder.name not in KINDS:
            raise ValueError(f"{path} is not a file directly inside a kind folder of {self.root}")
        return kind_folder

    def _subfolder(self, path: Path, sub: str) -> Path:
        """``root/kind/sub`` for an entry of ``root/kind``, created on first use."""
        folder = self._kind_folder(path) / sub
        self.storage.make_folder(folder)
        return folder


def file_fingerprint(path: Path) -> str:
    """sha256 hex of the content, streamed: the same bytes give the same run key, so a file
    landed twice (or renamed) is recognised without trusting names or mtimes."""
    with path.open("rb") as handle:
        return sha256_hex(handle)


def _check_name(name: str) -> None:
    if (
        not name
        or name in {".", ".."}
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or ".." in name
    ):
        raise ValueError(f"refusing landing file name {name!r}: it must be a plain file name")
    if is_temp_name(name):
        raise ValueError(f"refusing landing file name {name!r}: readers skip hidden/.tmp names")


def write_file_atomic(target: Path, data: bytes) -> None:
    """``target`` holds ``data`` whole or not at all, with ``FILE_MODE``: the landing zone's
    use of ``atomic_write.write_atomic_with`` (temp file, fsync, rename, fsync of the folder);
    one PUT on an object store."""
    storage_for(target).write_with(target, lambda temp: temp.write_bytes(data), FILE_MODE)


def _moving(doing: str, path: Path, sub: str) -> AbstractContextManager[None]:
    """``LandingError`` for a move of ``path`` into ``sub/`` that the OS refused."""
    left = f"Nothing was moved: {path} is still where it arrived."
    return landing_errors(f"{doing} {path} into {sub}/", (path.parent, path.parent / sub), left)


def _move(path: Path, folder: Path) -> Path:
    """Moves into ``folder`` under a name not taken yet (``os.replace``; on a store copy and
    delete, and a repeat after a crash between the two only deletes: ``earlier_copy``)."""
    storage = storage_for(path)
    earlier = storage.earlier_copy(path, folder)
    if earlier is not None:
        storage.delete(path)
        return earlier
    target = _free_target(storage, folder, path.name)
    storage.move(path, target)
    return target


def _free_target(storage: Storage, folder: Path, name: str, also_free: str = "") -> Path:
    """``folder/name`` if neither it nor ``name + also_free`` is taken, else a timestamped
    ``stem.<UTC timestamp>[-n].suffix`` (sorts by time, keeps the extension). ``lexists``
    because a dangling symlink is taken too: ``os.replace`` would overwrite it."""

    def free(candidate: Path) -> bool:
        taken = storage.taken(folder / f"{candidate.name}{also_free}") if also_free else False
        return not storage.taken(candidate) and not taken

    if free(folder / name):
        return folder / name
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension (or a leading dot only)
        stem, dot, suffix = name, "", ""
    for attempt in range(1000):
        extra = f"-{attempt}" if attempt else ""
        candidate = folder / f"{stem}.{stamp}{extra}{dot}{suffix}"
        if free(candidate):
            return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")
