"""How a request travels between a DEALER and a ROUTER.

Invariants:
- A request is two frames ``[rid, body]``; the ROUTER sees ``[identity, rid, body]`` and
  answers ``[identity, rid, reply]``, so a reply always finds the request that asked.
- ``rid`` is an unsigned 64-bit big-endian integer; 0 marks a message that answers no
  request (an execution report pushed by an engine).
- ``body`` is one msgspec msgpack message; a body that does not decode is answered with
  an error when it carries a return address, never allowed to stop the actor.
"""

from __future__ import annotations

import struct

_RID = struct.Struct(">Q")
NO_REQUEST = 0


def pack_rid(rid: int) -> bytes:
    return _RID.pack(rid)


def unpack_rid(frame: bytes) -> int | None:
    """The request id in ``frame``, or None when the frame is not one."""
    if len(frame) != _RID.size:
        return None
    value: int = _RID.unpack(frame)[0]
    return value
