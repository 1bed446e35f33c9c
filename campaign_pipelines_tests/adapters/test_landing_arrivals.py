"""Every entry that arrives gets an answer (DESIGN.md §3): listing, identity, take and reject
of what a landing folder holds, on real files, folders, symlinks, fifos and sockets."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.adapters.landing_arrivals import (
    ABANDONED_TEMP_SECONDS,
    QUIET_SECONDS,
    Arrival,
)

T0 = 1_700_000_000  # a fixed mtime, in seconds, so ages are exact
SUFFIXES = (".json", ".yaml")


@pytest.fixture
def zone(tmp_path: Path) -> LandingZone:
    return LandingZone(tmp_path / "landing")


def put(folder: Path, name: str, data: bytes = b"{}", at: int = T0) -> Path:
    path = folder / name
    path.write_bytes(data)
    os.utime(path, ns=(at * 10**9, at * 10**9))
    return path


def by_name(arrivals: list[Arrival]) -> dict[str, Arrival]:
    return {arrival.name: arrival for arrival in arrivals}


def test_arrivals_list_every_entry_oldest_first_but_archive_and_rejected(zone):
    folder = zone.folder("campaigns")
    for name, at in {"z.json": T0, "b.yaml": T0 + 2, "a.json": T0 + 2, "n.txt": T0 + 1}.items():
        put(folder, name, at=at)
    for sub in ("archive", "rejected"):
        (folder / sub).mkdir()
        put(folder / sub, "old.json")
    found = zone.arrivals("campaigns", SUFFIXES, now=T0 + 60)
    assert [a.name for a in found] == ["z.json", "n.txt", "a.json", "b.yaml"]
    assert [a.status for a in found] == ["ready", "refused", "ready", "ready"]
    assert found[0].path == folder / "z.json" and found[0].mtime_ns == T0 * 10**9
    assert found[0].problem is None and found[0].reason is None


def test_a_file_modified_within_the_quiet_period_waits(zone):
    put(zone.folder("signups"), "s.json")
    assert QUIET_SECONDS == 5
    (early,) = zone.arrivals("signups", SUFFIXES, now=T0 + 4)
    assert early.status == "waiting" and early.problem is None
    assert "still being written: modified 4" in early.reason and "5 s of quiet" in early.reason
    (later,) = zone.arrivals("signups", SUFFIXES, now=T0 + QUIET_SECONDS)
    assert later.status == "ready" and later.reason is None
    (custom,) = zone.arrivals("signups", SUFFIXES, quiet_seconds=60, now=T0 + 30)
    assert custom.status == "waiting" and "60 s of quiet" in custom.reason


def test_arrivals_default_to_the_clock(zone):
    zone.write_atomic("signups", "fresh.json", b"{}")
    (fresh,) = zone.arrivals("signups", SUFFIXES)
    assert fresh.status == "waiting"
    (ready,) = zone.arrivals("signups", SUFFIXES, quiet_seconds=0)
    assert ready.status == "ready"


def test_temp_files_wait_then_are_refused_as_abandoned_partial_writes(zone):
    folder = zone.folder("commands")
    names = [".pause.json.k2j3.tmp", ".hidden.json", "half.json.tmp"]
    for name in names:
        put(folder, name)
    waiting = by_name(zone.arrivals("commands", SUFFIXES, now=T0 + 3600))
    assert {name: waiting[name].status for name in names} == dict.fromkeys(names, "waiting")
    assert "temp file" in waiting["half.json.tmp"].reason
    assert ABANDONED_TEMP_SECONDS == 24 * 3600
    old = by_name(zone.arrivals("commands", SUFFIXES, now=T0 + ABANDONED_TEMP_SECONDS))
    assert {name: old[name].status for name in names} == dict.fromkeys(names, "refused")
    problem = old["half.json.tmp"].problem
    assert set(problem) == {"field", "problem", "fix"}
    assert "abandoned partial write" in problem["problem"] and "24 h" in problem["problem"]
    assert "rename" in problem["fix"]


@pytest.mark.parametrize(
    ("name", "says"),
    [("list.txt", "'.txt' is not one of .json, .yaml"), ("README", "no extension")],
)
def test_unknown_or_missing_extensions_are_refused_with_a_fix(zone, name, says):
    put(zone.folder("campaigns"), name)
    (arrival,) = zone.arrivals("campaigns", SUFFIXES, now=T0 + 60)
    assert arrival.status == "refused" and arrival.reason is None
    assert name in arrival.problem["problem"] and says in arrival.problem["problem"]
    assert arrival.problem["fix"].startswith(f"save it as {name.split('.')[0]}.json")


def test_extensions_match_whatever_their_case(zone):
    put(zone.folder("campaigns"), "SHOUT.JSON")
    (arrival,) = zone.arrivals("campaigns", ("json",), now=T0 + 60)
    assert arrival.status == "ready"


def test_folders_symlinks_fifos_and_sockets_are_refused_without_being_followed(
    zone, tmp_path, monkeypatch
):
    folder = zone.folder("sms_events")
    outside = put(tmp_path, "outside.json", b"secret")
    (folder / "batch.json").mkdir()
    (folder / "link.json").symlink_to(outside)
    (folder / "dangling.json").symlink_to(tmp_path / "missing.json")
    (folder / "to_folder.json").symlink_to(tmp_path)
    os.mkfifo(folder / "pipe.json")  # opening it would block: stat only never does
    monkeypatch.chdir(folder)  # a socket path must be short
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("sock.json")
        found = by_name(zone.arrivals("sms_events", SUFFIXES, now=T0))
    assert {name: a.status for name, a in found.items()} == dict.fromkeys(
        ["batch.json", "link.json", "dangling.json", "to_folder.json", "pipe.json", "sock.json"],
        "refused",
    )
    for name in ("link.json", "dangling.json", "to_folder.json"):
        assert "symlinks are not accepted in the landing zone" in found[name].problem["problem"]
        assert "copy the file in" in found[name].problem["fix"]
    assert "folder" in found["batch.json"].problem["problem"]
    assert "fifo" in found["pipe.json"].problem["problem"]
    assert "socket" in found["sock.json"].problem["problem"]
    assert outside.read_bytes() == b"secret"


def test_identify_gives_the_content_hash_and_an_id_that_survives_a_rename(zone):
    folder = zone.folder("uploads")
    put(folder, "a.json", b'{"n": 1}')
    (arrival,) = zone.arrivals("uploads", SUFFIXES, now=T0 + 60)
    digest = hashlib.sha256(b'{"n": 1}').hexdigest()
    assert arrival.identify() == (digest, f"{digest[:16]}-{T0 * 10**9}")
    os.rename(folder / "a.json", folder / "renamed.json")  # a rename keeps the mtime
    (renamed,) = zone.arrivals("uploads", SUFFIXES, now=T0 + 60)
    assert renamed.identify() == (digest, f"{digest[:16]}-{T0 * 10**9}")
    put(folder, "renamed.json", b'{"n": 2}')  # same time, other bytes: another arrival
    (other,) = zone.arrivals("uploads", SUFFIXES, now=T0 + 60)
    other_digest = hashlib.sha256(b'{"n": 2}').hexdigest()
    assert other.identify() == (other_digest, f"{other_digest[:16]}-{T0 * 10**9}")


def test_identify_is_none_once_the_file_is_gone_or_changed(zone, tmp_path):
    folder = zone.folder("uploads")
    put(folder, "gone.json")
    put(folder, "touched.json")
    put(folder, "swapped.json")
    listed = by_name(zone.arrivals("uploads", SUFFIXES, now=T0 + 60))
    (folder / "gone.json").unlink()
    put(folder, "touched.json", b'{"more": 1}', at=T0 + 30)
    (folder / "swapped.json").unlink()
    (folder / "swapped.json").symlink_to(put(tmp_path, "other.json"))
    assert listed["gone.json"].identify() is None
    assert listed["touched.json"].identify() is None  # listed before its last write
    assert listed["swapped.json"].identify() is None  # never read through a symlink


def test_only_a_ready_arrival_can_be_identified(zone):
    put(zone.folder("uploads"), "a.txt")
    (refused,) = zone.arrivals("uploads", SUFFIXES, now=T0 + 60)
    with pytest.raises(ValueError, match="a.txt is refused"):
        refused.identify()


def test_take_archives_the_file_only_with_the_admitted_content(zone):
    folder = zone.folder("campaigns")
    path = put(folder, "c.json", b'{"v": 1}')
    admitted = hashlib.sha256(b'{"v": 1}').hexdigest()
    put(folder, "c.json", b'{"v": 2}')  # replaced after admission: a new arrival
    assert zone.take(path, admitted) is None
    assert path.read_bytes() == b'{"v": 2}' and not (folder / "archive" / "c.json").exists()
    put(folder, "c.json", b'{"v": 1}')
    taken = zone.take(path, admitted)
    assert taken == folder / "archive" / "c.json" and taken.read_bytes() == b'{"v": 1}'
    assert not path.exists()
    assert zone.take(path, admitted) is None  # a retried step: nothing left to take
    assert [p.name for p in (folder / "archive").iterdir()] == ["c.json"]


def test_take_never_archives_a_symlink_or_folder_put_in_the_files_place(zone, tmp_path):
    folder = zone.folder("campaigns")
    admitted = hashlib.sha256(b"{}").hexdigest()
    (folder / "link.json").symlink_to(put(tmp_path, "same.json", b"{}"))
    (folder / "dir.json").mkdir()
    assert zone.take(folder / "link.json", admitted) is None
    assert zone.take(folder / "dir.json", admitted) is None
    assert (folder / "link.json").is_symlink() and (folder / "dir.json").is_dir()
    assert (tmp_path / "same.json").read_bytes() == b"{}"


def test_take_refuses_files_outside_the_zone(zone, tmp_path):
    outside = put(tmp_path, "x.json")
    with pytest.raises(ValueError):
        zone.take(outside, hashlib.sha256(b"{}").hexdigest())
    assert outside.exists()


def test_reject_moves_a_folder_itself_with_everything_in_it(zone):
    folder = zone.folder("uploads")
    (folder / "batch.csv").mkdir()
    put(folder / "batch.csv", "inner.csv", b"iin")
    moved = zone.reject(folder / "batch.csv", {"problems": []})
    assert moved == folder / "rejected" / "batch.csv"
    assert (moved / "inner.csv").read_bytes() == b"iin" and not (folder / "batch.csv").exists()
    report = json.loads((folder / "rejected" / "batch.csv.error.json").read_text())
    assert report["entry"] == "folder"


def test_reject_moves_a_symlink_itself_never_its_target(zone, tmp_path):
    folder = zone.folder("uploads")
    target = put(tmp_path, "real.csv", b"keep me")
    (folder / "link.csv").symlink_to(target)
    moved = zone.reject(folder / "link.csv", {"problems": []})
    assert moved.is_symlink() and os.readlink(moved) == str(target)
    assert target.read_bytes() == b"keep me" and not os.path.lexists(folder / "link.csv")
    report = json.loads((folder / "rejected" / "link.csv.error.json").read_text())
    assert report["entry"] == f"symlink to {str(target)!r}"


@pytest.mark.parametrize("move", ["reject", "archive"])
def test_moving_two_dangling_symlinks_of_one_name_keeps_both(zone, tmp_path, move):
    folder = zone.folder("uploads")
    for target in ("first", "second"):
        (folder / "gone.csv").symlink_to(tmp_path / target)
        moved = zone.reject(folder / "gone.csv", {}) if move == "reject" else zone.archive(
            folder / "gone.csv"
        )
    links = [p for p in moved.parent.iterdir() if p.is_symlink()]
    assert sorted(os.readlink(p) for p in links) == [str(tmp_path / t) for t in ("first", "second")]


def test_every_refused_entry_can_be_rejected_so_every_arrival_gets_an_answer(zone, tmp_path):
    folder = zone.folder("signups")
    put(folder, "ok.json")
    put(folder, "bad.txt")
    put(folder, ".abandoned.json.x1.tmp")
    (folder / "dir.json").mkdir()
    (folder / "link.json").symlink_to(put(tmp_path, "t.json"))
    os.mkfifo(folder / "pipe.json")
    for arrival in zone.arrivals("signups", SUFFIXES, now=T0 + ABANDONED_TEMP_SECONDS):
        if arrival.status == "refused":
            zone.reject(arrival.path, {"problems": [arrival.problem]})
    assert sorted(p.name for p in folder.iterdir()) == ["ok.json", "rejected"]
    rejected = folder / "rejected"
    moved = sorted(p.name for p in rejected.iterdir() if not p.name.endswith(".error.json"))
    assert moved == [".abandoned.json.x1.tmp", "bad.txt", "dir.json", "link.json", "pipe.json"]
    for name in moved:
        report = json.loads((rejected / f"{name}.error.json").read_text())
        assert report["file"] == name and report["problems"][0]["fix"]
    assert stat.S_ISFIFO(os.lstat(rejected / "pipe.json").st_mode)
