"""Every process a test starts goes through `spawn`: it runs in a session of its own and is registered here,
so that `stop` and `stop_all` can end it together with everything it started, even after a test failed
half-way. A session, not a process group, because a child may move to a group of its own."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GANC = str(Path(sys.executable).parent / "ganc")

_running: list[subprocess.Popen] = []  # started by spawn, not yet stopped


@dataclass(frozen=True)
class ProcessStat:
    """One line of the process table, as /proc/<pid>/stat gives it."""

    pid: int
    name: str
    state: str
    group: int
    session: int

    @property
    def ended(self) -> bool:
        # A zombie has ended: only its parent's wait is missing (orphans wait for the init process).
        return self.state in ("Z", "X")


def process_table() -> list[ProcessStat]:
    table = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = path.read_text()
        except OSError:  # it ended while we looked
            continue
        head, _, tail = text.rpartition(")")  # the name may hold spaces and parentheses
        pid, name = head.split(" (", 1)
        state, _parent, group, session = tail.split()[:4]
        table.append(ProcessStat(int(pid), name, state, int(group), int(session)))
    return table


def spawn(command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start `command` in a session of its own, with `env` over this environment and its output appended to `log`."""
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _running.append(process)
    return process


def running() -> list[subprocess.Popen]:
    """What `spawn` started and nothing has stopped yet, oldest first."""
    return list(_running)


def in_session(process: subprocess.Popen) -> list[ProcessStat]:
    """What still runs in the session that `process` leads."""
    leader_reaped = process.returncode is not None
    table = process_table()
    if leader_reaped and any(p.pid == process.pid for p in table):
        # Its number now belongs to a new process, which the kernel allows only once the session is empty.
        return []
    return [p for p in table if p.session == process.pid and not p.ended]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop `process` and everything in its session: `sig`, then SIGKILL to what is left after a grace period."""
    stop_all([process], sig)


def stop_all(processes: Iterable[subprocess.Popen], sig: int = signal.SIGTERM, grace_s: float = 60) -> None:
    """Send `sig` to everything in the sessions of `processes`, wait up to `grace_s` for all of it to end, then
    SIGKILL what is left; fail if anything still runs after that. Processes already stopped are left alone."""
    processes = [p for p in processes if p in _running]
    if not processes:
        return
    _signal(processes, sig)
    if not _wait_until_ended(processes, grace_s):
        _signal(processes, signal.SIGKILL)
        _wait_until_ended(processes, 10)
    left = {p.pid: in_session(p) for p in processes}
    for process in processes:
        if not left[process.pid]:
            _running.remove(process)
    survivors = [stat for stats in left.values() for stat in stats]
    assert not survivors, f"still running after SIGKILL: {survivors}"


def _signal(processes: list[subprocess.Popen], sig: int) -> None:
    for process in processes:
        for stat in in_session(process):
            with contextlib.suppress(ProcessLookupError):
                os.kill(stat.pid, sig)


def _wait_until_ended(processes: list[subprocess.Popen], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        for process in processes:
            process.poll()  # reap our own child, so that it does not linger as a zombie
        if not any(in_session(p) for p in processes):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
