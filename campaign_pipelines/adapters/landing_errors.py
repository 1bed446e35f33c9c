"""What a landing-zone write refused by the operating system tells a person.

A landing folder the service may not write to, a read-only mount or a full disk is neither bad
input nor a reason to lose a file. ``LandingError`` names what was being done, the folders
involved, the OS error by its errno name (EACCES, ENOSPC, ...) and the fix, and says what was
left as it was. It is an ``OSError`` (with the cause's ``errno``), so callers that already
catch ``OSError`` keep working.
"""

from __future__ import annotations

import errno
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LandingError(OSError):
    """A landing-zone write the OS refused; ``str()`` is the whole message for a person."""

    def __init__(self, code: int | None, message: str):
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@contextmanager
def landing_errors(doing: str, folders: tuple[Path, ...], left: str) -> Iterator[None]:
    """Turns an ``OSError`` raised inside into a ``LandingError`` saying ``cannot <doing>``,
    the fix for ``folders`` and ``left`` (what is still as it was). FileNotFoundError and
    FileExistsError pass unchanged: another reader took the entry, or a name is taken, which
    callers handle themselves."""
    try:
        yield
    except (LandingError, FileNotFoundError, FileExistsError):
        raise
    except OSError as error:
        where = " and ".join(dict.fromkeys(str(folder) for folder in folders))
        name = errno.errorcode.get(error.errno, "unknown error") if error.errno else "OSError"
        said = error.strerror or str(error)
        message = f"cannot {doing}: {name} ({said}). Fix: {_fix(error.errno, where)}."
        raise LandingError(error.errno, f"{message} {left}") from error


def _fix(code: int | None, where: str) -> str:
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"free space on the volume holding {where} (data blocks and inodes: df -h, df -i), "
            "or raise the quota of the user running this process"
        )
    if code in (errno.EACCES, errno.EPERM):
        fix = (
            f"give the user running the sensor, the CLI or the ingress ({_user()}) write access "
            f"to {where}"
        )
        return fix + (" and check the folder is not immutable (lsattr -d)" if code == errno.EPERM
                      else "")
    if code == errno.EROFS:
        return f"mount the volume holding {where} read-write"
    if code == errno.EFBIG:
        return f"raise the file-size limit (ulimit -f) of the user running this process ({_user()})"
    return f"fix the cause above on {where}, then try again"


def _user() -> str:
    uid = os.geteuid()
    try:
        return f"{pwd.getpwuid(uid).pw_name}, uid {uid}"
    except KeyError:  # a uid without a passwd entry, as in many containers
        return f"uid {uid}"
