"""The landing zone (DESIGN.md §3): where everything that arrives from outside lands as a file.

Contract, the same on a local disk and (in production) on object storage:
- writers write a hidden temp file in the target folder, fsync it, then ``os.replace`` it into
  place, so a reader never sees half a file; readers ignore temp files;
- readers never delete: a processed file moves to ``<kind>/archive/``, a bad one to
  ``<kind>/rejected/`` beside ``<name>.error.json`` saying what was wrong;
- a move never overwrites: a name already taken gets a UTC timestamp, so nothing is lost.

Every move is an ``os.replace`` inside one filesystem (one folder tree), which is atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KINDS = frozenset({"uploads", "campaigns", "signups", "sms_events", "commands", "assignments"})
ARCHIVE = "archive"
REJECTED = "rejected"
TEMP_SUFFIX = ".tmp"


def _is_temp(name: str) -> bool:
    return name.startswith(".") or name.endswith(TEMP_SUFFIX)


@dataclass(frozen=True)
class LandingZone:
    root: Path  # $CAMPAIGN_DATA_DIR/landing

    def folder(self, kind: str) -> Path:
        """``root/kind``, created on first use so a fresh deployment needs no setup step."""
        if kind not in KINDS:
            raise ValueError(f"unknown landing kind {kind!r}; expected one of {sorted(KINDS)}")
        path = Path(self.root) / kind
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pending(self, kind: str, suffixes: tuple[str, ...]) -> list[Path]:
        """Files waiting in ``root/kind``, oldest first (by mtime, then name, so that files
        written in the same instant still come in a stable order)."""
        wanted = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
        folder = self.folder(kind)
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if _is_temp(name) or not name.lower().endswith(wanted):
                    continue
                if entry.is_file(follow_symlinks=False):
                    found.append((entry.stat(follow_symlinks=False).st_mtime_ns, name))
        return [folder / name for _, name in sorted(found)]

    def write_atomic(self, kind: str, name: str, data: bytes) -> Path:
        """Lands ``data`` as ``root/kind/name``, all or nothing.

        Writing the same bytes again returns the existing file (a retried request); different
        bytes under a taken name raise ``FileExistsError`` instead of replacing a file that
        has not been processed yet (writers choose unique names; the check is not a lock).
        Names a reader would skip (hidden, ``.tmp``) are refused: they would never be read.
        """
        _check_name(name)
        target = self.folder(kind) / name
        if target.exists():
            if target.read_bytes() == data:
                return target
            raise FileExistsError(f"{target} already exists with different content")
        _write_atomic(target, data)
        return target

    def archive(self, path: Path) -> Path:
        """Moves a processed file into ``root/kind/archive/`` and returns its new path."""
        return _move(path, self._subfolder(path, ARCHIVE))

    def reject(self, path: Path, error: dict) -> Path:
        """Moves a bad file into ``root/kind/rejected/`` with ``<name>.error.json`` beside it.

        The file moves first: if the process dies before the JSON is written, the file is safe
        and a person still finds it in ``rejected/``.
        """
        folder = self._subfolder(path, REJECTED)
        moved = _move(path, folder, also_free=".error.json")
        report = {
            **error,
            "file": Path(path).name,
            "rejected_at": datetime.now(UTC).isoformat(),
        }
        text = json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"
        _write_atomic(folder / f"{moved.name}.error.json", text.encode("utf-8"))
        return moved

    def _subfolder(self, path: Path, sub: str) -> Path:
        """``root/kind/sub`` for a file that sits directly in ``root/kind``."""
        kind_folder = Path(path).parent
        inside = kind_folder.parent.resolve() == Path(self.root).resolve()
        if not inside or kind_folder.name not in KINDS:
            raise ValueError(f"{path} is not a file directly inside a kind folder of {self.root}")
        folder = kind_folder / sub
        folder.mkdir(exist_ok=True)
        return folder


def file_fingerprint(path: Path) -> str:
    """sha256 hex of the content, streamed: the same bytes give the same run key, so a file
    landed twice (or renamed) is recognised without trusting names or mtimes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fingerprint_if_present(path: Path) -> str | None:
    """``file_fingerprint``, or None when the file is gone: another reader (the CLI, another
    sensor tick) archived or rejected it since it was listed, so it is no longer this
    reader's to process. Any other failure to read it is raised."""
    try:
        return file_fingerprint(path)
    except FileNotFoundError:
        if Path(path).exists():
            raise
        return None


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
    if _is_temp(name):
        raise ValueError(f"refusing landing file name {name!r}: readers skip hidden/.tmp names")


def _write_atomic(target: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        # The temp file never became visible, so removing it loses nothing that arrived.
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Makes the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _move(path: Path, folder: Path, also_free: str = "") -> Path:
    """``os.replace`` into ``folder`` under a name not taken yet (nor ``name + also_free``)."""
    path = Path(path)
    target = folder / path.name
    if target.exists() or (also_free and (folder / f"{target.name}{also_free}").exists()):
        target = _free_name(folder, path.name, also_free)
    os.replace(path, target)
    _fsync_folder(folder)
    return target


def _free_name(folder: Path, name: str, also_free: str) -> Path:
    """``stem.<UTC timestamp>[-n].suffix``: sorts by time and keeps the extension."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension (or a leading dot only)
        stem, dot, suffix = name, "", ""
    for attempt in range(1000):
        extra = f"-{attempt}" if attempt else ""
        candidate = folder / f"{stem}.{stamp}{extra}{dot}{suffix}"
        if not candidate.exists() and not (folder / f"{candidate.name}{also_free}").exists():
            return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")
