"""Whether a process of this host is gone: the one question a command's run (runs.py) and an
SMS runner's claim (sms_run.py) ask about the process that left them behind."""

from __future__ import annotations

import os
from pathlib import Path


def process_start(pid: int) -> str | None:
    """The kernel's start time of the process (Linux), which tells a reused pid apart; None
    where there is no /proc, or for a zombie (finished already)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def process_gone(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` of this host no longer exists; with the ``started`` its
    ``process_start`` recorded, also when the pid now names another process. A process of
    another user exists; without a recorded start, a live pid is taken as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    if started is None or not Path("/proc").is_dir():
        return False
    return process_start(pid) != started
