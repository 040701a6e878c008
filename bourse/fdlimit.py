"""How many client connections a process can hold: its descriptor limit, raised to the
most it may have.

Invariant: ``connections_allowed(wanted, key)`` leaves the process's soft
``RLIMIT_NOFILE`` at its hard limit (when the system lets it) and returns ``wanted``,
or fewer, with a warning naming ``key``, when ``wanted`` connections and
``RESERVED_FDS`` others would not fit: a connection cap below the limit keeps accept()
from ever failing for want of a descriptor.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("bourse")

# Descriptors a process needs besides its clients: zmq sockets and their pipes, the
# listening sockets, logs, journal and store files.
RESERVED_FDS = 256


def connections_allowed(wanted: int, key: str) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or wanted + RESERVED_FDS <= soft:
        return wanted
    allowed = max(1, soft - RESERVED_FDS)
    log.warning(
        f"{key} lowered to fit the file descriptor limit",
        extra={"fields": {"configured": wanted, "allowed": allowed, "nofile": soft}},
    )
    return allowed
