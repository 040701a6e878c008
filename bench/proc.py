"""What Linux's /proc says about the processes a benchmark watches, and the machine."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc/<pid>/stat after the command name, from the state on."""
    # The command name in parentheses may hold spaces: the fields start after the last ")".
    return stat.read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a uvicorn supervisor's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat)
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (Linux /proc/stat).

    Busy is user, nice, system, irq, softirq and steal; idle and iowait are not.  Guest
    time is left out because the kernel already counts it in user and nice.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
