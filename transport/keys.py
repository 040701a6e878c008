"""CURVE key files: one key pair per process, public keys shared, secret keys private.

Layout of a keys folder:

- ``public/<process>.key``: the process's current public key; ``public/<process>.<tag>.key``
  (``next``, ``old``, ...) are more keys of the same process, accepted as it while a key
  is being rotated.  Every host holds the whole ``public/`` folder.
- ``secret/<process>.key_secret``: the key pair a process proves itself with (mode 0600,
  in a folder of mode 0700).  A host holds only its own processes' secret keys.

Files are ZeroMQ certificates (the ZPL text ``zmq.auth`` writes and reads).

Invariants:
- A key that loads is 32 bytes as 40 characters of Z85; anything else in a key file is an
  error naming the file.
- Writing never replaces an existing key unless asked to (``rotate``), and a secret key
  file is never readable by anyone but its owner, from the moment it exists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

PUBLIC = "public"
SECRET = "secret"
_PROCESS = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TAG = re.compile(r"[a-z0-9]{1,16}")


class KeyFileError(Exception):
    """A key file is missing, unreadable or malformed; the message names the file."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    public: bytes  # Z85, 40 bytes
    secret: bytes


def _z85(key: bytes | None, path: Path, kind: str) -> bytes:
    if key is None or len(key) != 40:
        raise KeyFileError(f"{path}: no valid {kind} key (40 characters of Z85)")
    try:
        zmq.utils.z85.decode(key)
    except (ValueError, KeyError):
        raise KeyFileError(f"{path}: the {kind} key is not Z85") from None
    return key


def public_path(folder: Path, process: str, tag: str = "") -> Path:
    name = f"{process}.{tag}.key" if tag else f"{process}.key"
    return folder / PUBLIC / name


def secret_path(folder: Path, process: str, tag: str = "") -> Path:
    name = f"{process}.{tag}.key_secret" if tag else f"{process}.key_secret"
    return folder / SECRET / name


def load_pair(folder: Path, process: str) -> KeyPair:
    """The key pair ``process`` proves itself with."""
    path = secret_path(folder, process)
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        reason = "missing" if not path.exists() else f"unreadable ({error})"
        raise KeyFileError(f"the secret key of {process} is {reason}: {path}") from None
    return KeyPair(_z85(public, path, "public"), _z85(secret, path, "secret"))


def load_public_keys(folder: Path) -> dict[bytes, str]:
    """Every public key in ``public/``, mapped to the process it belongs to."""
    keys: dict[bytes, str] = {}
    directory = folder / PUBLIC
    try:
        entries = sorted(directory.iterdir())
    except OSError as error:
        raise KeyFileError(f"cannot read the public keys folder {directory}: {error}") from None
    for path in entries:
        if path.suffix != ".key":
            continue
        process, _, tag = path.stem.partition(".")
        if not _PROCESS.fullmatch(process) or (tag and not _TAG.fullmatch(tag)):
            continue
        try:
            public, _ = zmq.auth.load_certificate(path)
        except (OSError, ValueError) as error:
            raise KeyFileError(f"{path}: {error}") from None
        keys[_z85(public, path, "public")] = process
    return keys


def write_pair(folder: Path, process: str, tag: str = "") -> KeyPair:
    """A fresh key pair for ``process``, written to ``secret/`` and ``public/``."""
    public, secret = zmq.curve_keypair()
    for sub, mode in ((SECRET, 0o700), (PUBLIC, 0o755)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub).chmod(mode)
    _write(secret_path(folder, process, tag), process, public, secret)
    _write(public_path(folder, process, tag), process, public, None)
    return KeyPair(public, secret)


def _write(path: Path, process: str, public: bytes, secret: bytes | None) -> None:
    lines = [
        f"#   ZeroMQ CURVE {'secret' if secret else 'public'} certificate of {process}",
        "metadata",
        f"    process = {process}",
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    temporary = path.with_suffix(path.suffix + ".tmp")
    # Created 0600 at once: a secret key is never readable by others, not even briefly.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "w") as file:
        file.write("\n".join(lines) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def ensure_pairs(folder: Path, processes: list[str]) -> list[str]:
    """Make a key pair for every process of ``processes`` that has none; the names made."""
    made = []
    for process in processes:
        if not secret_path(folder, process).exists():
            write_pair(folder, process)
            made.append(process)
    return made


def rotate(folder: Path, process: str) -> KeyPair:
    """Stage a new key pair for ``process`` as its ``next`` key (accepted at once, used
    once promoted)."""
    return write_pair(folder, process, "next")


def promote(folder: Path, process: str) -> None:
    """Make the ``next`` key of ``process`` its current one (the secret too, on the host
    that holds it); its current public key stays accepted as ``old`` until ``retire``."""
    staged_public = public_path(folder, process, "next")
    if not staged_public.exists():
        raise KeyFileError(f"no staged key for {process}: {staged_public} is missing")
    current = public_path(folder, process)
    if current.exists():
        os.replace(current, public_path(folder, process, "old"))
    os.replace(staged_public, current)
    staged_secret = secret_path(folder, process, "next")
    if staged_secret.exists():
        os.replace(staged_secret, secret_path(folder, process))


def retire(folder: Path, process: str) -> bool:
    """Stop accepting the ``old`` key of ``process``; False when there was none."""
    try:
        public_path(folder, process, "old").unlink()
    except FileNotFoundError:
        return False
    return True


def folder_stamp(folder: Path) -> int:
    """Changes whenever a public key is added, replaced or removed."""
    try:
        return (folder / PUBLIC).stat().st_mtime_ns
    except OSError:
        return 0
