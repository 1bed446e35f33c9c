"""A real small volume for full-disk tests: a 64 KiB tmpfs, filled until the kernel says
ENOSPC."""

import errno
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def small_volume(tmp_path: Path, request: pytest.FixtureRequest):
    """A real 64 KiB tmpfs at ``tmp_path/volume`` (``request.param``: extra mount options)."""
    if shutil.which("mount") is None:
        pytest.skip("a real full disk needs a small tmpfs, and the mount command is missing")
    volume = tmp_path / "volume"
    volume.mkdir()
    options = ",".join(["size=64k", "mode=0755", *request.param])
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(volume)],
        capture_output=True, text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a real full disk needs a small tmpfs, and mounting one failed (needs root "
                    f"with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield volume
    finally:
        if subprocess.run(["umount", str(volume)]).returncode != 0:
            subprocess.run(["umount", "-l", str(volume)])


def fill(folder: Path, what: str) -> None:
    """Uses up the volume's data blocks, or its inodes, until the kernel says ENOSPC."""
    folder.mkdir()
    with pytest.raises(OSError) as full:
        if what == "inodes":
            for number in itertools.count():
                (folder / str(number)).touch()
        with open(folder / "blocks", "wb", buffering=0) as file:
            while True:
                file.write(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
