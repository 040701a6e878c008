"""How bourse starts an etcd of its own: a single member for one machine (``make run`` of
``configs/ha-local.toml``) and for tests.  A cluster across hosts runs its own etcd
cluster instead; the config then only names its endpoints.

Invariants:
- A 50 ms heartbeat and a 500 ms election timeout: etcd raises every lease TTL to at least
  ``ceil(1.5 x election timeout)`` seconds, so these let a 1 s lease be 1 s (etcd's
  default 1000 ms timeout would make the shortest lease 2 s, and every failover slower).
- The member's data lives in the folder given; the same folder and ports restart it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HEARTBEAT_MS = 50
ELECTION_TIMEOUT_MS = 500


def etcd_binary() -> str:
    found = shutil.which("etcd")
    if found is None:
        raise RuntimeError("no etcd binary: `make etcd` installs Debian's etcd-server")
    return found


def etcd_command(folder: Path, client_url: str, peer_url: str, name: str = "bourse") -> list[str]:
    """The command line of a single-member etcd serving ``client_url``."""
    return [
        etcd_binary(),
        f"--name={name}",
        f"--data-dir={folder / 'data'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={name}={peer_url}",
        f"--heartbeat-interval={HEARTBEAT_MS}",
        f"--election-timeout={ELECTION_TIMEOUT_MS}",
        "--logger=zap",
        "--log-level=warn",
    ]
