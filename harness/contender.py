"""A contender for a group's leadership, as a real process: tests freeze and kill it.

``python -m harness.contender --endpoint URL --prefix P --group G --instance I [--primary]
[--add-to-isr NAME ...]`` campaigns every 20 ms until it leads, adds the named instances
to the group's in-sync set, and then answers one JSON line on stdout for each line on
stdin: ``{"leading": <epoch or null>, "remaining_s": ...}``, read locally (no network
call) the moment the line arrives.  It also prints ``{"won": epoch}`` when it starts to
lead and ``{"lost": {group: epoch}}`` when its lease is lost.

:class:`Contender` starts one and talks to it.

Invariants: every line it prints is one JSON object, flushed at once; it exits when stdin
closes (its lease revoked) or when killed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bourse.coordination import CoordinatorSection, coordinator_settings
from bourse.logs import setup_logging
from transport.coordinator import Coordinator, CoordinatorError

ROOT = Path(__file__).resolve().parent.parent
_print_lock = threading.Lock()


class Contender:
    """A contender process and its lines."""

    def __init__(
        self,
        endpoint: str,
        prefix: str,
        group: str,
        instance: str,
        *,
        primary: bool = False,
        add_to_isr: Sequence[str] = (),
    ) -> None:
        command = [sys.executable, "-m", "harness.contender", "--endpoint", endpoint]
        command += ["--prefix", prefix, "--group", group, "--instance", instance]
        if primary:
            command.append("--primary")
        if add_to_isr:
            command += ["--add-to-isr", *add_to_isr]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.said: list[dict[str, Any]] = []  # every line so far, in order
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            self.said.append(message)
            self._lines.put(message)
        self._lines.put(None)

    def wait_for(self, key: str, timeout_s: float = 20.0) -> Any:
        """The value of the next line that has ``key`` (lines without it are skipped)."""
        return self.wait_line(key, timeout_s)[key]

    def wait_line(self, key: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """The next line that has ``key`` (lines without it are skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"the contender said no {key!r} in {timeout_s}s") from None
            if line is None:
                raise RuntimeError(f"the contender exited ({self.process.wait()})")
            if key in line:
                return line

    def status(self) -> dict[str, Any]:
        """``{"leading": epoch or None, "remaining_s": ...}`` as the process sees it now."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"status\n")
        self.process.stdin.flush()
        return self.wait_line("leading")

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def say(message: Mapping[str, object]) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--primary", action="store_true")
    parser.add_argument("--add-to-isr", nargs="*", default=[])
    parser.add_argument("--lease-ttl-ms", type=int, default=1000)
    args = parser.parse_args()
    setup_logging(f"contender-{args.instance}")
    section = CoordinatorSection(
        endpoints=[args.endpoint], prefix=args.prefix, lease_ttl_ms=args.lease_ttl_ms
    )
    coordinator = Coordinator(
        coordinator_settings(section, "test"), on_lost=lambda lost: say({"lost": dict(lost)})
    )
    stop = threading.Event()
    epoch = None
    while epoch is None and not stop.is_set():
        try:
            epoch = coordinator.campaign(
                args.group, args.instance, {"name": args.instance}, primary=args.primary
            )
        except CoordinatorError as error:
            say({"error": str(error)})
        if epoch is None:
            stop.wait(0.02)
    for member in args.add_to_isr:
        coordinator.isr_add(args.group, member)
    say({"won": epoch})
    for _ in sys.stdin:
        lease = coordinator.lease
        say(
            {
                "leading": coordinator.leading(args.group),
                "remaining_s": lease.remaining() if lease is not None else None,
            }
        )
    coordinator.close()


if __name__ == "__main__":
    main()
