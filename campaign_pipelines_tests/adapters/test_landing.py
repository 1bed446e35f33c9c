"""The landing-zone contract (DESIGN.md §3) on a real folder in tmp_path."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign_pipelines.adapters.landing import FILE_MODE, LandingZone, file_fingerprint
from campaign_pipelines_tests.volumes import fill


@pytest.fixture
def zone(tmp_path: Path) -> LandingZone:
    return LandingZone(tmp_path / "landing")


def every_file(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_folder_is_created_and_kinds_are_checked(zone):
    assert zone.folder("uploads") == zone.root / "uploads"
    assert (zone.root / "uploads").is_dir()
    with pytest.raises(ValueError, match="unknown landing kind"):
        zone.folder("../etc")


def test_write_atomic_leaves_only_the_file(zone):
    path = zone.write_atomic("signups", "s1.json", b'{"email": "a@b.kz"}')
    assert path == zone.root / "signups" / "s1.json"
    assert path.read_bytes() == b'{"email": "a@b.kz"}'
    assert every_file(zone.root) == ["signups/s1.json"]


def test_write_atomic_failure_leaves_no_temp_file(zone, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        zone.write_atomic("signups", "s1.json", b"{}")
    assert every_file(zone.root) == []


def test_write_atomic_never_replaces_different_content(zone):
    first = zone.write_atomic("commands", "pause-1.json", b"pause")
    assert zone.write_atomic("commands", "pause-1.json", b"pause") == first  # a retry
    with pytest.raises(FileExistsError):
        zone.write_atomic("commands", "pause-1.json", b"resume")
    assert first.read_bytes() == b"pause"


@pytest.mark.parametrize(
    "name", ["../escape.csv", "a/b.csv", "a\\b.csv", "..", "", "x..csv", ".hidden.csv", "x.tmp"]
)
def test_write_atomic_refuses_unsafe_names(zone, name):
    with pytest.raises(ValueError, match="refusing"):
        zone.write_atomic("uploads", name, b"iin\n")
    assert every_file(zone.root.parent) == []


def _ready(zone, kind: str, suffixes: tuple[str, ...]) -> list:
    listed = zone.arrivals(kind, suffixes, quiet_seconds=0)
    return [arrival.path for arrival in listed if arrival.status == "ready"]


def test_ready_arrivals_leave_out_temp_files_other_suffixes_and_subfolders(zone):
    folder = zone.folder("uploads")
    for name in ["a.csv", "B.XLSX", ".c.csv", "d.csv.tmp", "e.json", "f.parquet"]:
        (folder / name).write_bytes(b"x")
    (folder / "sub.csv").mkdir()
    (folder / "archive").mkdir()
    (folder / "archive" / "old.csv").write_bytes(b"x")
    found = _ready(zone, "uploads", (".csv", ".xlsx", "parquet"))
    assert sorted(p.name for p in found) == ["B.XLSX", "a.csv", "f.parquet"]


def test_arrivals_come_by_mtime_then_name(zone):
    folder = zone.folder("campaigns")
    stamps = {"z.json": 1_000, "b.json": 3_000, "a.json": 3_000, "m.json": 2_000}
    for name, seconds in stamps.items():
        (folder / name).write_bytes(b"{}")
        os.utime(folder / name, ns=(seconds * 10**9, seconds * 10**9))
    found = _ready(zone, "campaigns", (".json",))
    assert [p.name for p in found] == ["z.json", "m.json", "a.json", "b.json"]


def test_archive_moves_and_never_overwrites(zone):
    first = zone.write_atomic("uploads", "list.csv", b"first")
    archived_first = zone.archive(first)
    second = zone.write_atomic("uploads", "list.csv", b"second")
    archived_second = zone.archive(second)
    assert archived_first == zone.root / "uploads" / "archive" / "list.csv"
    assert archived_first.read_bytes() == b"first"
    assert archived_second.read_bytes() == b"second"
    assert archived_second.parent == archived_first.parent
    assert archived_second.name.startswith("list.") and archived_second.suffix == ".csv"
    assert _ready(zone, "uploads", (".csv",)) == []


def test_reject_writes_error_json_beside_the_file(zone):
    path = zone.write_atomic("uploads", "список.csv", b"junk")
    rejected = zone.reject(path, {"problem": "нет колонки ИИН", "row": 3})
    assert rejected == zone.root / "uploads" / "rejected" / "список.csv"
    assert rejected.read_bytes() == b"junk"
    error_file = rejected.with_name("список.csv.error.json")
    text = error_file.read_text(encoding="utf-8")
    assert "нет колонки ИИН" in text and '\n  "row": 3' in text  # ensure_ascii=False, indent=2
    report = json.loads(text)
    assert report["problem"] == "нет колонки ИИН" and report["row"] == 3
    assert report["file"] == "список.csv"
    rejected_at = datetime.fromisoformat(report["rejected_at"])
    assert rejected_at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - rejected_at).total_seconds()) < 60


def test_reject_never_overwrites_an_earlier_rejection(zone):
    for content in (b"one", b"two"):
        zone.reject(zone.write_atomic("sms_events", "r.json", content), {"problem": "bad"})
    folder = zone.root / "sms_events" / "rejected"
    files = sorted(p.name for p in folder.iterdir())
    data = sorted(p.read_bytes() for p in folder.iterdir() if not p.name.endswith(".error.json"))
    assert data == [b"one", b"two"]
    assert len(files) == 4 and sum(name.endswith(".error.json") for name in files) == 2
    moved = [name for name in files if not name.endswith(".error.json")]
    assert all(f"{name}.error.json" in files for name in moved)


def test_moves_refuse_files_outside_the_zone(zone, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(b"x")
    with pytest.raises(ValueError):
        zone.archive(outside)
    archived = zone.archive(zone.write_atomic("uploads", "a.csv", b"x"))
    with pytest.raises(ValueError):
        zone.reject(archived, {"problem": "already archived"})
    assert outside.exists() and archived.exists()


def test_file_fingerprint_is_sha256_of_the_content(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(data)
    b.write_bytes(data)
    assert file_fingerprint(a) == hashlib.sha256(data).hexdigest() == file_fingerprint(b)


def test_written_files_and_error_reports_are_readable_by_the_operators_group(zone):
    previous = os.umask(0o077)  # the strictest umask a service might run with
    try:
        landed = zone.write_atomic("uploads", "list.csv", b"iin\n")
        mode_landed = stat.S_IMODE(os.stat(landed).st_mode)
        rejected = zone.reject(landed, {"problem": "bad"})
    finally:
        os.umask(previous)
    report = rejected.with_name("list.csv.error.json")
    assert FILE_MODE == 0o640
    assert mode_landed == 0o640 and stat.S_IMODE(os.stat(report).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(rejected).st_mode) == 0o640  # a move keeps the mode


# --- an unwritable landing folder and a full disk, for real -------------------------------

OPERATIONS = ["write_atomic", "archive", "reject", "take"]
CHILD = """
import json, sys
from pathlib import Path
from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines_tests.adapters.test_landing import attempt
print(json.dumps(attempt(LandingZone(Path(sys.argv[1])), sys.argv[2])))
"""
REPOSITORY = Path(__file__).resolve().parents[2]


def attempt(zone: LandingZone, operation: str) -> dict | None:
    """One landing-zone write on ``campaigns/a.json``; the OSError it raised, if any, as
    type, errno and message (a child process prints it as JSON)."""
    path = zone.root / "campaigns" / "a.json"
    try:
        if operation == "write_atomic":
            zone.write_atomic("campaigns", "b.json", b'{"b": 1}' * 4096)
        elif operation == "new_kind":  # its folder must be created first
            zone.write_atomic("signups", "s.json", b"{}")
        elif operation == "archive":
            zone.archive(path)
        elif operation == "reject":
            zone.reject(path, {"problems": [{"field": "x", "problem": "y", "fix": "z"}]})
        else:
            zone.take(path, hashlib.sha256(b"{}").hexdigest())
    except OSError as error:
        return {"type": type(error).__name__, "errno": error.errno, "message": str(error)}
    return None


def assert_left_as_it_arrived(zone, error, code: str, fix: str, folder: str = "campaigns"):
    assert error is not None, "the write should have failed"
    assert error["type"] == "LandingError" and error["errno"] == getattr(errno, code)
    message = error["message"]
    assert code in message and f"{fix} {zone.root / folder}".rstrip("/") in message
    assert (zone.root / "campaigns" / "a.json").read_bytes() == b"{}"
    assert every_file(zone.root) == ["campaigns/a.json"]  # no temp file, no lone report


def unprivileged(command: list[str]) -> list[str]:
    """``command`` run so that permission bits apply. Root ignores them through
    CAP_DAC_OVERRIDE; dropping that capability (and not the uid: tmp_path lies in a 0700
    folder of root's that another user could not even reach) makes a 0500 folder refuse
    writes exactly as it refuses the service user it belongs to."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("tests run as root and setpriv (util-linux) is missing: no way to drop "
                    "CAP_DAC_OVERRIDE, so a 0500 folder would not refuse the write")
    wrapped = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run([*wrapped, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop CAP_DAC_OVERRIDE here: {probe.stderr.strip()}")
    return [*wrapped, *command]


@pytest.mark.parametrize("operation", [*OPERATIONS, "new_kind"])
def test_a_read_only_landing_folder_raises_landing_error_and_moves_nothing(zone, operation):
    folder = zone.folder("campaigns")
    (folder / "a.json").write_bytes(b"{}")
    if operation in ("reject", "take"):  # the report or the move itself must fail then
        (folder / ("rejected" if operation == "reject" else "archive")).mkdir()
    read_only = zone.root if operation == "new_kind" else folder
    command = unprivileged([sys.executable, "-c", CHILD, str(zone.root), operation])
    read_only.chmod(0o500)
    try:
        child = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=REPOSITORY
        )
    finally:
        read_only.chmod(0o755)
    assert child.returncode == 0, child.stderr
    named = "" if operation == "new_kind" else "campaigns"
    assert_left_as_it_arrived(zone, json.loads(child.stdout), "EACCES", "write access to", named)


def attempt_on_a_full_volume(volume: Path, operation: str, what: str) -> None:
    zone = LandingZone(volume / "landing")
    (zone.folder("campaigns") / "a.json").write_bytes(b"{}")
    fill(volume / "filler", what)
    error = attempt(zone, operation)
    assert_left_as_it_arrived(zone, error, "ENOSPC", "free space on the volume holding")


@pytest.mark.parametrize("small_volume", [[]], indirect=True, ids=["tmpfs-64k"])
@pytest.mark.parametrize("operation", ["write_atomic", "reject"])
def test_a_full_disk_raises_landing_error_and_moves_nothing(small_volume, operation):
    """ENOSPC for real, no data block left: a landed file or a report cannot be written."""
    attempt_on_a_full_volume(small_volume, operation, "blocks")


@pytest.mark.parametrize("small_volume", [["nr_inodes=16"]], indirect=True, ids=["16-inodes"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_disk_out_of_inodes_raises_landing_error_and_moves_nothing(small_volume, operation):
    """ENOSPC for real, no inode left: not even archive/ or rejected/ can be made."""
    attempt_on_a_full_volume(small_volume, operation, "inodes")
