"""``bourse keys``: the bus's CURVE key pairs, made, bundled per host and rotated.

Invariants:
- ``init`` makes a key pair for every process of the config that has none (the gateway,
  the feed, each engine and shard, and ``operator`` for the operator's tools) and never
  replaces one: running it again is harmless.
- ``bundle --host`` copies what one host needs: every public key, and the secret keys of
  that host's own processes only.
- ``rotate`` stages a new pair as the process's ``next`` key (accepted by every peer as
  soon as its public key is in their folder); ``promote`` makes it current (on every host:
  where the process runs, its secret too) and keeps the previous key accepted as ``old``;
  ``retire`` stops accepting the old one.  README's "Keys" says the order.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bourse.config import Config
from transport.keys import (
    PUBLIC,
    SECRET,
    KeyFileError,
    ensure_pairs,
    promote,
    public_path,
    retire,
    rotate,
    secret_path,
)


def keys_command(config: Config, args: argparse.Namespace) -> int:
    folder = config.keys_dir
    processes = config.processes()
    action: str = args.action
    if action == "init":
        made = ensure_pairs(folder, list(processes))
        kept = len(processes) - len(made)
        print(f"keys in {folder}: made {len(made)} key pair(s), kept {kept}")
        return 0
    if action == "bundle":
        return _bundle(config, folder, args.host, Path(args.out))
    process: str = args.process
    if process not in processes:
        print(f"bourse: no process {process!r} in the config", file=sys.stderr)
        return 2
    if action == "rotate":
        rotate(folder, process)
        print(
            f"staged a new key for {process}: copy {public_path(folder, process, 'next')} to "
            f"every host and {secret_path(folder, process, 'next')} to {process}'s host"
        )
        return 0
    if action == "promote":
        promote(folder, process)
        print(f"{process}'s new key is current here; restart {process} once every host has it")
        return 0
    retired = retire(folder, process)
    print(f"{process}'s old key is {'no longer accepted' if retired else 'already gone'} here")
    return 0


def _bundle(config: Config, folder: Path, host: str, out: Path) -> int:
    if host not in config.raw.hosts:
        print(f"bourse: no host {host!r} in the config", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(f"bourse: {out} is not empty", file=sys.stderr)
        return 2
    (out / SECRET).mkdir(parents=True, mode=0o700)
    shutil.copytree(folder / PUBLIC, out / PUBLIC)
    for process, placed in config.processes().items():
        if placed != host:
            continue
        source = secret_path(folder, process)
        if not source.exists():
            raise KeyFileError(f"the secret key of {process} is missing: {source}")
        shutil.copy2(source, secret_path(out, process))
    print(f"{out}: the public keys and the secret keys of {host}'s processes")
    return 0
