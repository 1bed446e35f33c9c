"""process_gone on real processes: this one, a finished child, and a pid whose recorded start
is another process's."""

import os
import subprocess
import sys

from campaign_pipelines.adapters.processes import process_gone, process_start


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
