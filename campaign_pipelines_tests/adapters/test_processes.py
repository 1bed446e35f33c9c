"""process_gone on real processes: this one, a finished child, and a pid whose recorded start
is another process's; the SMS runner's claims, which name such a process."""

import os
import socket
import subprocess
import sys

from campaign_pipelines.adapters.processes import process_gone, process_start
from campaign_pipelines.adapters.sms_run import claimer_id, claimer_is_dead


def test_this_process_is_alive_and_a_finished_child_is_gone():
    assert not process_gone(os.getpid(), process_start(os.getpid()))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    assert process_gone(child.pid)


def test_a_live_pid_with_another_recorded_start_is_a_reused_pid_so_gone():
    started = process_start(os.getpid())
    assert started is not None  # Linux: /proc is there
    assert process_gone(os.getpid(), str(int(started) - 1))
    assert not process_gone(os.getpid())  # nothing recorded: a live pid is taken as alive


def test_an_sms_claim_names_its_process_and_its_start():
    """The SMS runner's claimer id carries the start time: a claim whose pid was handed to
    another process is a dead runner's; one from another host, or written before claims
    carried a start, is left to the lease while its pid lives."""
    mine = claimer_id()
    host, pid, started, _ = mine.split("/")
    assert (host, pid, started) == (socket.gethostname(), str(os.getpid()),
                                    process_start(os.getpid()))
    assert not claimer_is_dead(mine)
    assert claimer_is_dead(f"{host}/{pid}/{int(started) - 1}/0123456789ab")  # a reused pid
    assert not claimer_is_dead(f"{host}/{pid}/0123456789ab")  # no start recorded: alive
    assert not claimer_is_dead(f"another-host/{pid}/{started}/0123456789ab")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert claimer_is_dead(f"{host}/{child.pid}/-/0123456789ab")
    assert not claimer_is_dead(None) and not claimer_is_dead("not a claimer")
