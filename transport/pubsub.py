"""Numbered publish/subscribe: a gap is always noticed, never silent.

Invariants:
- A published message is three frames ``[topic, seq, body]``; ``seq`` counts that
  topic's messages contiguously from 1 for the life of the publishing process.
- A :class:`GapDetector` accepts a topic's messages in order; a message whose ``seq`` is
  not last + 1 (a drop, or a restarted publisher counting from 1 again) is reported as a
  gap, so the subscriber resyncs from a snapshot (the ZeroMQ guide's Clone pattern).
- High-water marks are sized on purpose (``PUB_HWM``): a drop past them shows up as a gap.
- A publisher on an XPUB socket learns the subscriptions (ZeroMQ passes each prefix up
  once, and its removal once the last subscriber drops it) and answers ``wants(topic)``
  from them, so a message nobody subscribed to is neither built nor sent.  Numbering
  counts the messages sent.
"""

from __future__ import annotations

import struct

import zmq

from transport.framing import send_frames

PUB_HWM = 1_000_000
_SEQ = struct.Struct(">Q")


class Publisher:
    def __init__(self, socket: zmq.Socket[bytes]) -> None:
        self.socket = socket
        self._seqs: dict[bytes, int] = {}
        self.learns_subscriptions = socket.type == zmq.XPUB
        self._prefixes: set[bytes] = set()
        self._wanted: dict[bytes, bool] = {}  # topic -> matched; cleared on every change

    def wants(self, topic: bytes) -> bool:
        """Whether some subscriber would receive ``topic`` (always, on a plain PUB)."""
        if not self.learns_subscriptions:
            return True
        wanted = self._wanted.get(topic)
        if wanted is None:
            wanted = any(topic.startswith(prefix) for prefix in self._prefixes)
            self._wanted[topic] = wanted
        return wanted

    def has_subscribers(self) -> bool:
        """Whether ``wants`` could say yes to any topic at all."""
        return not self.learns_subscriptions or bool(self._prefixes)

    def read_subscriptions(self) -> None:
        """Take in every subscription change waiting on the XPUB socket."""
        while True:
            try:
                message = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not message or message[0] not in (0, 1):
                continue
            if message[0] == 1:
                self._prefixes.add(message[1:])
            else:
                self._prefixes.discard(message[1:])
            self._wanted.clear()

    def publish(self, topic: bytes, body: bytes) -> int:
        seq = self._seqs.get(topic, 0) + 1
        self._seqs[topic] = seq
        send_frames(self.socket, (topic, _SEQ.pack(seq), body))
        return seq


def parse_published(frames: list[bytes]) -> tuple[bytes, int, bytes] | None:
    """``(topic, seq, body)``, or None for a message not of our form."""
    if len(frames) != 3 or len(frames[1]) != _SEQ.size:
        return None
    seq: int = _SEQ.unpack(frames[1])[0]
    return frames[0], seq, frames[2]


class GapDetector:
    """Tells, per topic, whether a message follows the one before it."""

    def __init__(self) -> None:
        self._last: dict[bytes, int] = {}

    def accept(self, topic: bytes, seq: int) -> bool:
        """Record ``seq``; False when it does not follow the last one seen (a gap)."""
        last = self._last.get(topic)
        self._last[topic] = seq
        return last is None or seq == last + 1
