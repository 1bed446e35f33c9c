"""What the 202 promises: an acknowledged signup is in a complete landing file after a SIGKILL,
a full disk, two writers with one name, or a writer that died half way; a reader never sees
a growing file or a torn line."""

import asyncio
import fcntl
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.core.sequences.signups import SignupRecord
from campaign_pipelines.ingress.journal import Journal
from campaign_pipelines.ingress.journal_files import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    append,
    complete,
    open_journal,
    process_tag,
    recover_orphans,
)
from campaign_pipelines_tests.ingress.server import SIGNUP, TOKEN, complete_lines


def _post_until_stopped(base: str, stop: threading.Event, accepted: list[str], codes: list[int]):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
        while not stop.is_set():
            try:
                answer = client.post("/webhooks/signups", json=SIGNUP)
            except httpx.TransportError:  # its worker was killed: a new connection
                continue
            codes.append(answer.status_code)
            if answer.status_code == 202:
                accepted.append(answer.json()["signup_id"])


def _load(base: str, seconds: float, clients: int = 8):
    stop, accepted, codes = threading.Event(), [], []
    threads = [threading.Thread(target=_post_until_stopped, args=(base, stop, accepted, codes),
                                daemon=True)
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    return accepted, codes, stop, threads


def _ids(folder: Path) -> list[str]:
    return [SignupRecord.model_validate_json(line).signup_id for line in complete_lines(folder)]


def _temp_journals(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def _temp_journals_of(folder: Path, pid: int) -> list[Path]:
    return [p for p in _temp_journals(folder) if f"-{pid}-" in p.name]


@pytest.mark.long_pole(seconds=5)
def test_every_acknowledged_signup_survives_a_sigkilled_worker(tmp_path, start_ingress):
    """Two workers; one is SIGKILLed while clients post. The server recovers its journal
    (uvicorn starts a new worker, whose start recovers it; the other worker looks every
    0.5 s here), and after a graceful stop every 202'd signup is in a complete file, once."""
    ingress = start_ingress(tmp_path / "data", workers=2, INGRESS_ROTATE_SECONDS="0.3",
                      INGRESS_RECOVER_SECONDS="0.5")
    workers = [child for child in psutil.Process(ingress.process.pid).children()
               if "spawn_main" in " ".join(child.cmdline())]  # not the resource tracker
    assert len(workers) == 2
    accepted, _, stop, threads = _load(ingress.base, 0.5, clients=4)
    workers[0].kill()  # SIGKILL, in the middle of whatever it was writing
    time.sleep(0.8)
    stop.set()
    for thread in threads:
        thread.join()
    signups = ingress.landing / "signups"
    assert _temp_journals_of(signups, workers[0].pid) == []  # recovered while serving
    ingress.stop(signal.SIGTERM)
    landed = _ids(signups)  # every line whole (complete_lines asserts no torn tail)
    assert len(accepted) > 20
    assert set(accepted) <= set(landed)
    assert len(landed) == len(set(landed))
    assert _temp_journals(signups) == []


def test_recovery_cuts_a_torn_line_and_leaves_a_live_journal_alone(tmp_path):
    whole = b'{"signup_id": "1"}\n{"signup_id": "2"}\n'
    dead = tmp_path / f"{TEMP_PREFIX}host-1-0{TEMP_SUFFIX}"
    dead.write_bytes(whole + b'{"signup_id": "3", "sig')  # killed in the middle of a write
    torn_only = tmp_path / f"{TEMP_PREFIX}host-1-1{TEMP_SUFFIX}"
    torn_only.write_bytes(b'{"sign')
    live = tmp_path / f"{TEMP_PREFIX}host-2-0{TEMP_SUFFIX}"
    live.write_bytes(b'{"signup_id": "4"}\n{"sig')
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a live writer holds its journal's lock
        recovered = recover_orphans(tmp_path, "signups")
    assert [p.name for p in recovered] == ["signups-host-1-0.jsonl"]
    assert recovered[0].read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "signups-host-1-0.jsonl"]


def test_a_writer_that_died_after_linking_its_journal_lands_it_once(tmp_path):
    temp = tmp_path / f"{TEMP_PREFIX}host-1-0{TEMP_SUFFIX}"
    temp.write_bytes(b'{"signup_id": "1"}\n')
    os.link(temp, tmp_path / "signups-host-1-0-1.jsonl")  # its name was taken: it got -1
    assert recover_orphans(tmp_path, "signups") == [tmp_path / "signups-host-1-0-1.jsonl"]
    assert [p.name for p in tmp_path.iterdir()] == ["signups-host-1-0-1.jsonl"]


def test_two_writers_with_one_name_never_write_into_each_other(tmp_path):
    """Two journals of one process have the same host and pid, as two workers would if their
    names collided; a complete file already holding the first name is not replaced."""
    taken = tmp_path / f"signups-{process_tag()}-0.jsonl"
    taken.write_bytes(b'{"signup_id": "earlier"}\n')

    async def write_both() -> None:
        first = Journal(tmp_path, "signups", rotate_records=7)
        second = Journal(tmp_path, "signups", rotate_records=5)
        await first.start()
        await second.start()
        lines = [(journal, f'{{"signup_id": "{name}-{i}"}}\n'.encode())
                 for i in range(40) for journal, name in ((first, "a"), (second, "b"))]
        for start in range(0, len(lines), 6):  # batches of six: many rotations, each named
            await asyncio.gather(*(journal.append(line) for journal, line in lines[start:][:6]))
        await first.close()
        await second.close()

    asyncio.run(write_both())
    lines = complete_lines(tmp_path)
    assert taken.read_bytes() == b'{"signup_id": "earlier"}\n'
    assert len(lines) == 81 and len(set(lines)) == 81
    assert _temp_journals(tmp_path) == []


def test_a_reader_waits_for_a_journal_that_is_still_written(tmp_path):
    landing = LandingZone(tmp_path / "landing")

    async def write_and_look() -> list:
        journal = Journal(landing.folder("signups"), "signups", rotate_seconds=60)
        await journal.start()
        await journal.append(b'{"signup_id": "1"}\n')
        listed = landing.arrivals("signups", (".jsonl",), quiet_seconds=0)
        await journal.close()
        return listed

    listed = asyncio.run(write_and_look())
    assert [(a.status, a.name.startswith(TEMP_PREFIX)) for a in listed] == [("waiting", True)]
    after = landing.arrivals("signups", (".jsonl",), quiet_seconds=0)
    assert [a.status for a in after] == ["ready"]


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"a 64 KiB tmpfs cannot be mounted here ({done.stderr.strip()}): "
                    "mounting needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_with_503_and_loses_no_acknowledged_signup(tiny_disk, start_ingress):
    ingress = start_ingress(tiny_disk)
    big = {**SIGNUP, "assessment": {"notes": "x" * 3000}}
    answers = [ingress.post(body=big) for _ in range(40)]
    codes = [answer.status_code for answer in answers]
    assert 202 in codes and 503 in codes, codes
    refused = answers[codes.index(503)].json()
    assert refused["status"] == "rejected" and "not stored" in refused["message"]
    assert ingress.client.get("/health").status_code == 200
    ingress.stop(signal.SIGTERM)
    signups = ingress.landing / "signups"
    recover_orphans(signups, "signups")
    accepted = {answer.json()["signup_id"] for answer in answers if answer.status_code == 202}
    assert accepted <= set(_ids(signups))


def test_completing_cuts_what_a_failed_write_left_past_the_durable_size(tmp_path):
    """A write that failed half way and whose cut failed too leaves bytes past ``size``: the
    complete file holds only the acknowledged lines."""
    journal = open_journal(tmp_path, "host-1", iter(range(1)))
    append(journal, b'{"signup_id": "1"}\n', 1)
    os.write(journal.fd, b'{"signup_id": "2", "sig')  # the failed batch's torn part
    done = complete(journal, "signups")
    assert done is not None and done.read_bytes() == b'{"signup_id": "1"}\n'
