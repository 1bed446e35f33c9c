"""Where the suite keeps its temporary files: on tmpfs (/dev/shm) when the machine has one
with room, else in the system's temporary folder.

The code under test is the same either way (real files, real SQLite and DuckDB databases);
tmpfs only makes each fsync free, and Dagster's SQLite event log commits, and syncs, once per
event, which made a campaign run's tests spend about 40% of their time waiting for the disk.
Tests about full disks bring their own small tmpfs (campaign_pipelines_tests/volumes.py).
Set PYTEST_DEBUG_TEMPROOT (pytest's own variable) or --basetemp to choose another place.
"""

import os
import tempfile
from pathlib import Path

_TMPFS = Path("/dev/shm")
_ROOM_NEEDED = 4 << 30  # the largest test data stays far below this


def pytest_configure(config) -> None:
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    if not (_TMPFS.is_dir() and os.access(_TMPFS, os.W_OK)):
        return
    room = os.statvfs(_TMPFS)
    if room.f_bavail * room.f_frsize < _ROOM_NEEDED:
        return
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(_TMPFS)
    os.environ["TMPDIR"] = str(_TMPFS)  # and the processes the tests start
    tempfile.tempdir = str(_TMPFS)
