"""How a request travels between a DEALER and a ROUTER.

Invariants:
- A request is two frames ``[rid, body]``, or three ``[rid, body, trace]`` when it carries
  a request id for the logs (printable ASCII, at most ``MAX_TRACE`` bytes); the ROUTER
  sees the identity first and answers ``[identity, rid, reply]``, so a reply always finds
  the request that asked.
- ``rid`` is an unsigned 64-bit big-endian integer; 0 marks a message that answers no
  request (an execution report pushed by an engine).
- ``body`` is one msgspec msgpack message; a body that does not decode is answered with
  an error when it carries a return address, never allowed to stop the actor.
"""

from __future__ import annotations

import struct

import zmq

_RID = struct.Struct(">Q")
NO_REQUEST = 0
MAX_TRACE = 64


def pack_rid(rid: int) -> bytes:
    return _RID.pack(rid)


def valid_trace(frame: bytes) -> bool:
    return len(frame) <= MAX_TRACE and all(0x21 <= byte <= 0x7E for byte in frame)


def unpack_rid(frame: bytes) -> int | None:
    """The request id in ``frame``, or None when the frame is not one."""
    if len(frame) != _RID.size:
        return None
    value: int = _RID.unpack(frame)[0]
    return value


# pyzmq's send_multipart/recv_multipart combine flags as Python enums on every frame,
# which costs more than the send itself for small messages; plain ints avoid it.
_SNDMORE = int(zmq.SNDMORE)
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)


def send_frames(socket: zmq.Socket[bytes], frames: tuple[bytes, ...]) -> None:
    """Send a multipart message (blocking on a full high-water mark like send_multipart)."""
    send = socket.send
    for frame in frames[:-1]:
        send(frame, _SNDMORE)
    send(frames[-1])


def recv_frames_nowait(socket: zmq.Socket[bytes]) -> list[bytes]:
    """Receive one whole multipart message; raises zmq.Again when none is waiting."""
    recv = socket.recv
    frames = [recv(_NOBLOCK)]
    while socket.getsockopt(_RCVMORE):
        frames.append(recv(_NOBLOCK))
    return frames
