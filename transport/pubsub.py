"""Numbered publish/subscribe: a gap is always noticed, never silent.

Invariants:
- A published message is three frames ``[topic, seq, body]``; ``seq`` counts that
  topic's messages contiguously from 1 for the life of the publishing process.
- A :class:`GapDetector` accepts a topic's messages in order; a message whose ``seq`` is
  not last + 1 (a drop, or a restarted publisher counting from 1 again) is reported as a
  gap, so the subscriber resyncs from a snapshot (the ZeroMQ guide's Clone pattern).
- High-water marks are sized on purpose (``PUB_HWM``): a drop past them shows up as a gap.
- Every publisher is an XPUB in manual mode: libzmq passes each subscription up, and it
  takes effect only when the publisher applies it.  A subscription longer than any topic
  the publisher sends (``max_topic``), or past ``max_subscriptions`` held at once, is
  refused (not applied, and counted), so no subscriber, however buggy, grows the
  publisher's memory past a bound.  ``MAX_SUBSCRIPTION`` (the socket's ZMQ_MAXMSGSIZE)
  drops a subscriber whose subscription message is longer still.
- A publisher that learns subscriptions answers ``wants(topic)`` from the prefixes held
  (counted per subscriber, so one leaving does not hide another's), so a message nobody
  subscribed to is neither built nor sent.  Numbering counts the messages sent.
"""

from __future__ import annotations

import struct

import zmq

from transport.framing import send_frames

PUB_HWM = 1_000_000
# Bytes of one inbound message on a PUB: a subscription (flag byte and prefix), and the
# CURVE handshake's commands, which the same limit covers (INITIATE is ~300 bytes).
MAX_SUBSCRIPTION = 1024
_SEQ = struct.Struct(">Q")


class Publisher:
    def __init__(
        self,
        socket: zmq.Socket[bytes],
        max_topic: int,
        max_subscriptions: int,
        learn_subscriptions: bool = False,
    ) -> None:
        assert socket.type == zmq.XPUB
        socket.setsockopt(zmq.XPUB_MANUAL, 1)
        self.socket = socket
        self.max_topic = max_topic
        self.max_subscriptions = max_subscriptions
        self.learns_subscriptions = learn_subscriptions
        self._seqs: dict[bytes, int] = {}
        self._prefixes: dict[bytes, int] = {}  # prefix -> subscribers holding it
        self.held = 0
        self._wanted: dict[bytes, bool] = {}  # topic -> matched; cleared on every change
        self.refused = 0  # subscriptions refused for their length or number

    def wants(self, topic: bytes) -> bool:
        """Whether some subscriber would receive ``topic`` (always, on a plain PUB)."""
        if not self.learns_subscriptions:
            return True
        wanted = self._wanted.get(topic)
        if wanted is None:
            # Every prefix of the topic, not every subscription: O(len(topic)) lookups.
            prefixes = self._prefixes
            wanted = any(topic[:end] in prefixes for end in range(len(topic) + 1))
            self._wanted[topic] = wanted
        return wanted

    def has_subscribers(self) -> bool:
        """Whether ``wants`` could say yes to any topic at all."""
        return not self.learns_subscriptions or bool(self._prefixes)

    def read_subscriptions(self) -> None:
        """Take in every subscription change waiting on the XPUB socket, applying those
        within the limits (each to the subscriber that sent it)."""
        socket = self.socket
        prefixes = self._prefixes
        while True:
            try:
                message = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not message or message[0] not in (0, 1):
                continue
            prefix = message[1:]
            if message[0] == 1:
                if len(prefix) > self.max_topic or self.held >= self.max_subscriptions:
                    self.refused += 1
                    continue
                socket.setsockopt(zmq.SUBSCRIBE, prefix)
                prefixes[prefix] = prefixes.get(prefix, 0) + 1
                self.held += 1
            else:
                held = prefixes.get(prefix)
                if held is None:
                    continue  # a refused subscription going away: it was never applied
                socket.setsockopt(zmq.UNSUBSCRIBE, prefix)
                self.held -= 1
                if held > 1:
                    prefixes[prefix] = held - 1
                else:
                    del prefixes[prefix]
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
