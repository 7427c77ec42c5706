"""The support's process helpers: what `spawn` starts, `stop_all` ends, with everything it started in turn."""

import sys
import time
from pathlib import Path

from tests.support import in_session, process_table, running, spawn, stop_all

# A shell that starts three children, then waits: one that ignores SIGTERM, one that does not, and one in a
# process group of its own (job control), so that only its session still ties it to the shell.
TREE = """
trap '' TERM
sleep 600 &
trap - TERM
sleep 600 &
set -m
sleep 600 &
echo started
wait
"""
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("started", flush=True)
time.sleep(600)
"""


def wait_for_line(log: Path, line: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in log.read_text().splitlines():
        assert time.monotonic() < deadline, f"never printed {line!r}: {log.read_text()}"
        time.sleep(0.05)


def test_stopping_ends_every_process_of_the_sessions_even_those_that_ignore_sigterm(tmp_path):
    tree = spawn(["bash", "-c", TREE], {}, tmp_path / "tree.log")
    stubborn = spawn([sys.executable, "-c", STUBBORN], {}, tmp_path / "stubborn.log")
    wait_for_line(tmp_path / "tree.log", "started")
    wait_for_line(tmp_path / "stubborn.log", "started")
    members = in_session(tree)
    assert len(members) == 4 and any(p.group != tree.pid for p in members)
    assert [p.pid for p in in_session(stubborn)] == [stubborn.pid]

    stop_all([tree, stubborn], grace_s=1)

    sessions = {tree.pid, stubborn.pid}
    assert [p for p in process_table() if p.session in sessions and not p.ended] == []
    assert tree not in running() and stubborn not in running()


def test_stopping_ends_what_a_leader_that_already_exited_left_behind(tmp_path):
    leader = spawn(["bash", "-c", "sleep 600 & echo started"], {}, tmp_path / "leader.log")
    wait_for_line(tmp_path / "leader.log", "started")
    leader.wait(30)
    assert len(in_session(leader)) == 1  # the orphaned sleep

    stop_all([leader])

    assert [p for p in process_table() if p.session == leader.pid and not p.ended] == []
