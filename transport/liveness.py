"""How every ZeroMQ link notices a silent peer: ZMTP heartbeats, and the reconnect pace.

Invariants:
- Each side of every link pings every ``HEARTBEAT_IVL_MS`` and drops the connection when
  nothing came back for ``HEARTBEAT_TIMEOUT_MS`` (and asks its peer, by the TTL, to drop
  it after as long): a peer that died with its host, or is cut off, is noticed within
  about a second, instead of when TCP gives up minutes later.
- A dropped connection is dialed again every ``RECONNECT_IVL_MS``, backing off to
  ``RECONNECT_IVL_MAX_MS``, and an attempt that gets no answer is abandoned after
  ``CONNECT_TIMEOUT_MS``, so a peer that comes back is reached again within a second.
- A client socket set to ``ZMQ_IMMEDIATE`` is writable (``POLLOUT``) exactly while some
  peer is connected (its handshake done): :func:`peer_connected` reads that, so "the peer
  is down" is known without a timer of our own.  Reading it makes the socket take in
  what waits for it, which may consume the edge of an edge-triggered descriptor: a caller
  that waits on that descriptor must look at ``POLLIN`` in the same events (the events
  are returned for that).
"""

from __future__ import annotations

from typing import Any

import zmq

HEARTBEAT_IVL_MS = 250
HEARTBEAT_TIMEOUT_MS = 1000
RECONNECT_IVL_MS = 50
# A connection attempt to a host that does not answer (cut off, or gone) is given up
# after this and tried afresh, instead of waiting on TCP's SYN retransmissions (1 s, then
# 3, 7, ... s): a host that comes back is reached within this plus the reconnect pace.
CONNECT_TIMEOUT_MS = 500
# Low, so a peer that comes back (or a standby that takes over) is reached at once; a
# refused connection attempt costs a SYN and a RST.
RECONNECT_IVL_MAX_MS = 250


def keep_alive(socket: zmq.Socket[Any]) -> None:
    """Heartbeats and the reconnect pace, set before the socket binds or connects."""
    socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    socket.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
    socket.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
    socket.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)


def peer_connected(socket: zmq.Socket[Any]) -> bool:
    """Whether an ``ZMQ_IMMEDIATE`` client socket has a peer connected right now."""
    return bool(socket_events(socket) & zmq.POLLOUT)


def socket_events(socket: zmq.Socket[Any]) -> int:
    """The socket's ``ZMQ_EVENTS``: ``POLLOUT`` is :func:`peer_connected`, ``POLLIN``
    says messages wait to be read."""
    events: int = socket.getsockopt(zmq.EVENTS)  # type: ignore[assignment]
    return events
