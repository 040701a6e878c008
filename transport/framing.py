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
- Several requests (or replies) for the same peer may travel as one message
  ``[b"", envelopes]``: an empty rid frame, then a msgpack array of at most
  ``MAX_ENVELOPES`` envelopes ``[rid, body]`` or ``[rid, body, trace]``.  Each envelope
  means exactly what the same request sent on its own would; one that is malformed
  (a rid out of range, a bad trace) makes the whole message malformed.  A receiver may
  answer the envelopes of one message in several messages, and a sender may split.
- Size: a sender cuts envelopes into messages of at most ``MAX_ENVELOPES`` and about
  ``MESSAGE_BYTES``; a ROUTER refuses (libzmq's ``ZMQ_MAXMSGSIZE``: it drops the
  connection) any message past ``MAX_REQUEST_MESSAGE``, so no peer, however buggy, makes
  a receiver hold more.  A single body is at most ``MAX_BODY`` bytes.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

import msgspec
import zmq

_RID = struct.Struct(">Q")
MAX_TRACE = 64
MAX_ENVELOPES = 4096
MAX_BODY = 1 << 20  # far above any legal request (an order is ~150 bytes)
MESSAGE_BYTES = 1 << 20  # a sender starts a new message of envelopes past this
# The largest message a ROUTER takes: a message of envelopes just under MESSAGE_BYTES
# plus one envelope of MAX_BODY, and the frames around them.
MAX_REQUEST_MESSAGE = MESSAGE_BYTES + MAX_BODY + 4096
# Replies and reports may be larger (a cancel-all of a user's every order, a whole book);
# a client still bounds what it takes from a server.
MAX_REPLY_MESSAGE = 256 << 20
_ENVELOPE_OVERHEAD = 32  # msgpack array and integer headers around one body
BATCH = b""  # the rid frame that marks a message of envelopes


class Envelope(msgspec.Struct, array_like=True, frozen=True, gc=False, omit_defaults=True):
    rid: Annotated[int, msgspec.Meta(ge=0)]  # msgpack holds nothing above 2**64 - 1
    body: bytes
    trace: bytes = b""


_envelopes_encoder = msgspec.msgpack.Encoder()
_envelopes_decoder: msgspec.msgpack.Decoder[list[Envelope]] = msgspec.msgpack.Decoder(
    Annotated[list[Envelope], msgspec.Meta(min_length=1, max_length=MAX_ENVELOPES)]
)


def pack_envelopes(envelopes: Sequence[Envelope]) -> bytes:
    """The second frame of a message of envelopes (at most ``MAX_ENVELOPES``)."""
    return _envelopes_encoder.encode(envelopes)


def unpack_envelopes(frame: bytes) -> list[Envelope] | None:
    """The envelopes in ``frame``, or None when it is not a valid message of them."""
    try:
        envelopes = _envelopes_decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    for envelope in envelopes:
        if envelope.trace and not valid_trace(envelope.trace):
            return None
    return envelopes


def unpack_message(frames: Sequence[bytes]) -> list[Envelope] | None:
    """The requests or replies one message carries (its frames after any identity): one
    in the plain form, several in a message of envelopes; None when it is malformed."""
    if len(frames) == 2 and frames[0] == BATCH:
        return unpack_envelopes(frames[1])
    if not 2 <= len(frames) <= 3:
        return None
    rid = unpack_rid(frames[0])
    if rid is None:
        return None
    trace = frames[2] if len(frames) == 3 else b""
    if trace and not valid_trace(trace):
        return None
    return [Envelope(rid, frames[1], trace)]


def chunks(envelopes: list[Envelope]) -> Iterable[list[Envelope]]:
    """``envelopes`` cut into messages no receiver refuses for their count or size."""
    chunk: list[Envelope] = []
    size = 0
    for envelope in envelopes:
        if chunk and (len(chunk) == MAX_ENVELOPES or size >= MESSAGE_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(envelope)
        size += len(envelope.body) + len(envelope.trace) + _ENVELOPE_OVERHEAD
    if chunk:
        yield chunk


def messages(envelopes: list[Envelope]) -> Iterator[tuple[tuple[bytes, ...], list[Envelope]]]:
    """The messages (frames after any identity, and the envelopes each carries) that take
    ``envelopes`` to one peer: the plain form for a single one, else envelopes."""
    if len(envelopes) == 1:
        envelope = envelopes[0]
        rid = pack_rid(envelope.rid)
        if envelope.trace:
            yield (rid, envelope.body, envelope.trace), envelopes
        else:
            yield (rid, envelope.body), envelopes
        return
    for chunk in chunks(envelopes):
        yield (BATCH, pack_envelopes(chunk)), chunk


def pack_rid(rid: int) -> bytes:
    return _RID.pack(rid)


_TRACE = re.compile(rb"[!-~]{1,%d}" % MAX_TRACE)


def valid_trace(frame: bytes) -> bool:
    return _TRACE.fullmatch(frame) is not None


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


def send_frames(socket: zmq.Socket[bytes], frames: tuple[bytes, ...], flags: int = 0) -> None:
    """Send a multipart message (blocking on a full high-water mark like send_multipart,
    unless ``flags`` has NOBLOCK)."""
    send = socket.send
    more = _SNDMORE | flags
    for frame in frames[:-1]:
        send(frame, more)
    send(frames[-1], flags)


def recv_frames_nowait(socket: zmq.Socket[bytes]) -> list[bytes]:
    """Receive one whole multipart message; raises zmq.Again when none is waiting."""
    return recv_message_nowait(socket)[0]


def recv_message_nowait(socket: zmq.Socket[bytes]) -> tuple[list[bytes], zmq.Frame]:
    """Like ``recv_frames_nowait``, with the message's first frame, whose metadata
    (``User-Id``, ``Peer-Address``) says who sent it."""
    # A frame object knows whether more follow; asking the socket (RCVMORE) costs more
    # than the receive itself.
    recv = socket.recv
    first = frame = recv(_NOBLOCK, copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = recv(_NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames, first
