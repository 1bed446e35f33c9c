"""Where shared files live: a local folder or an object store, behind one small seam.

``CAMPAIGN_DATA_URL`` names the root of every file more than one process shares: the landing
zone with its ``archive/`` and ``rejected/``, the stored requests and the IO manager's asset
files. A plain path (the default, ``CAMPAIGN_DATA_DIR``) is a local folder; a URL such as
``s3://bucket/prefix`` is an object store reached through universal-pathlib and fsspec (s3fs;
any S3-compatible server through ``AWS_ENDPOINT_URL``). Paths are ``pathlib.Path`` locally and
``UPath`` on a store: both answer ``/``, ``name``, ``parent``, ``exists``, ``read_bytes`` and
``open``; what differs (listing, atomic writes, moves, claims) goes through ``storage_for``.

The landing contract (adapters/landing.py) on each:

- a writer's file appears whole: locally a temp file, fsync, ``os.replace``; on a store one
  PUT (a multipart upload appears at its completion);
- a move (archive/, rejected/): locally ``os.replace`` in one tree; on a store a copy, then a
  delete, and a repeat after a crash between the two finds the copy and only deletes;
- landing under a name (``land``): locally a check, then that write (writers choose unique
  names); on a store a PUT with ``If-None-Match: *``, so of two writers of one name (two
  ingress replicas) one lands and the other is told; ``create`` (claims, locks, journal
  batches) is that exclusive write on both (locally ``os.link`` of a temp file);
- two readers of one arrival: locally one daemon and Dagster's run keys, as always; on a store
  (several pods, sensors, CLIs) a claim object per arrival (``ObjectStorage.claim``, in
  object_storage.py).

DuckDB files are not shared storage: the embedded warehouse is a local file per process, and a
deployment on an object store uses Oracle (or a local DuckDB per process, for a demo).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Union

from upath import UPath

from campaign_pipelines.adapters.atomic_write import PRIVATE_MODE, fsync_folder, write_atomic_with
from campaign_pipelines.adapters.storage_entry import Entry

if TYPE_CHECKING:
    from campaign_pipelines.adapters.object_storage import ObjectStorage

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# What CAMPAIGN_DATA_URL may be (both settings objects check it): an S3 bucket and prefix, a
# file:// URL or a plain path.
DATA_URL_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?|file://\S+|[^:]+)$"


def storage_path(location: str | os.PathLike) -> Path:
    """A ``Path`` for a local path (or ``file://`` URL), a ``UPath`` for any other URL; what a
    run's config or tag holds as text becomes a path again through here, never ``Path(text)``
    (which would turn ``s3://b/k`` into ``s3:/b/k``)."""
    text = os.fspath(location)
    if _URL.match(text) and not text.startswith("file://"):
        # Other processes write the same keys: no listing is ever answered from a cache.
        return UPath(text, use_listings_cache=False)  # type: ignore[return-value]
    return Path(text.removeprefix("file://"))


def shared_root(data_url: str | None, data_dir: Path) -> Path:
    """The root of the files every process shares (``CAMPAIGN_DATA_URL``): an object-store
    URL as it is, a folder made absolute, or, unset, this machine's ``data_dir``. Both
    settings objects (the code location's and the ingress's) ask this."""
    if not data_url:
        return data_dir
    return storage_path(data_url if _URL.match(data_url) else str(Path(data_url).resolve()))


def as_path(location: str | os.PathLike) -> Path:
    """A path as it is, or text (a run's config) through ``storage_path``."""
    if isinstance(location, Path | UPath):
        return location  # type: ignore[return-value]
    return storage_path(location)


def is_local(path: Path) -> bool:
    return isinstance(path, Path)  # a local UPath is a Path too


def same_place(one: Path, other: Path) -> bool:
    """Whether two folders are one: resolved locally, by URL on a store."""
    if is_local(one) and is_local(other):
        return Path(one).resolve() == Path(other).resolve()
    return str(one).rstrip("/") == str(other).rstrip("/")


class LocalStorage:
    """A folder on this machine's disk: the behaviour the landing zone always had."""

    # A writer may write a file in place, visible while it grows: readers wait for quiet.
    writes_in_place = True

    def scan(self, folder: Path) -> list[Entry]:
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    status = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # taken by another reader since the folder was read
                found.append(_local_entry(folder / entry.name, status))
        return found

    def lstat(self, path: Path) -> Entry | None:
        try:
            return _local_entry(path, os.lstat(path))
        except FileNotFoundError:
            return None

    def digest(self, path: Path) -> tuple[str, Entry] | None:
        """sha256 and the entry of the regular file at ``path``, never through a symlink; None
        when it is gone, is not a regular file, or changed while being read."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            descriptor = os.open(path, flags)
        except OSError as error:
            # ELOOP: a symlink; ENXIO: a socket. Either way not the file that was admitted.
            if error.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
                return None
            raise
        before = os.fstat(descriptor)
        if not stat.S_ISREG(before.st_mode):
            os.close(descriptor)
            return None
        with os.fdopen(descriptor, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            after = os.fstat(descriptor)
        if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
            return None  # written in place while we read it: not a stable version yet
        return digest, _local_entry(Path(path), after)

    def write_with(self, target: Path, write: Callable[[Path], None], mode: int) -> None:
        write_atomic_with(target, write, mode=mode)

    def create(self, target: Path, data: bytes, mode: int = PRIVATE_MODE) -> bool:
        """Writes ``target`` whole only if the name is free; False when it is taken."""
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp")
        temp = Path(name)
        try:
            os.fchmod(handle, mode)
            os.write(handle, data)
            os.fsync(handle)
            os.close(handle)
            os.link(temp, target)  # a link never replaces a name
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)
        fsync_folder(target.parent)
        return True

    def land(self, target: Path, data: bytes, mode: int) -> bool:
        """Writes ``target`` whole (temp file, fsync, rename) unless the name is taken: a
        check, not a lock (local writers choose unique names); False when taken."""
        if target.exists():
            return False
        write_atomic_with(target, lambda temp: temp.write_bytes(data), mode=mode)
        return True

    def move(self, source: Path, target: Path) -> None:
        os.replace(source, target)
        fsync_folder(target.parent)

    def delete(self, path: Path) -> None:
        Path(path).unlink(missing_ok=True)

    def earlier_copy(self, source: Path, folder: Path) -> Path | None:
        """``os.replace`` leaves no copy behind to find."""
        return None

    def taken(self, path: Path) -> bool:
        return os.path.lexists(path)

    def make_folder(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def claim(self, folder: Path, name: str, body: bytes, lease_s: float, now: float) -> bool:
        """One machine: the daemon evaluates a sensor's ticks one at a time and Dagster's run
        keys answer a repeated tick, as they always have; nothing to claim."""
        return True

    @contextmanager
    def locked(self, path: Path) -> Iterator[None]:
        """An exclusive ``flock`` on the file ``path``, released when the block ends."""
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
            yield

    @contextmanager
    def local_copy(self, path: Path) -> Iterator[Path]:
        yield Path(path)


def unreachable(root: Path) -> str | None:
    """Why files cannot be landed under ``root`` now, or None: locally the nearest folder that
    exists must be a writable folder (the rest is made on the first write); on a store its
    bucket must answer and exist. Never raises: a readiness probe asks it."""
    try:
        if is_local(root):
            here = Path(root)
            while not here.exists() and here != here.parent:
                here = here.parent
            if not here.is_dir():
                return f"{here} is not a folder: CAMPAIGN_DATA_URL (or CAMPAIGN_DATA_DIR) " \
                       "must name a folder"
            if not os.access(here, os.W_OK | os.X_OK):
                return f"{here} is not writable by this process"
            return None
        bucket = str(root.path).split("/", 1)[0]  # type: ignore[attr-defined]  # UPath
        if not root.fs.exists(bucket):  # type: ignore[attr-defined]
            return f"the bucket {bucket} does not exist or these credentials cannot see it"
        return None
    except Exception as error:  # noqa: BLE001 - a probe answers, it does not fail
        return f"{root} cannot be reached: {type(error).__name__}"


Storage = Union[LocalStorage, "ObjectStorage"]
LOCAL = LocalStorage()


def storage_for(path: Path) -> Storage:
    """The storage ``path`` lives on (``storage_path`` made it)."""
    if is_local(path):
        return LOCAL
    from campaign_pipelines.adapters.object_storage import ObjectStorage

    return ObjectStorage(path.fs)  # type: ignore[attr-defined]


def _local_entry(path: Path, status: os.stat_result) -> Entry:
    return Entry(path, status.st_mode, status.st_mtime_ns, status.st_size,
                 (status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size))
