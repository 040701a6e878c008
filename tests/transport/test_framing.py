"""Messages of envelopes, byte by byte: what packs unpacks, and what is malformed is refused."""

from __future__ import annotations

import msgspec
import pytest

from transport.framing import (
    MAX_ENVELOPES,
    Envelope,
    chunks,
    pack_envelopes,
    unpack_envelopes,
)


def test_envelopes_come_back_as_they_went_in_with_and_without_a_trace() -> None:
    sent = [Envelope(1, b"first"), Envelope(2**64 - 1, b"", b"req-42"), Envelope(0, b"\x00\xff")]
    assert unpack_envelopes(pack_envelopes(sent)) == sent


@pytest.mark.parametrize(
    "frame",
    [
        b"\xc1 not msgpack",
        msgspec.msgpack.encode([]),  # a message of no envelopes
        msgspec.msgpack.encode([[-1, b"body"]]),  # a rid below zero
        msgspec.msgpack.encode([[1, "text, not bytes"]]),
        msgspec.msgpack.encode([[1, b"body", b"has a space"]]),  # a trace must be printable
        msgspec.msgpack.encode([[1, b"body", b"x" * 65]]),  # and at most 64 bytes
        msgspec.msgpack.encode([[1, b"ok"], [2]]),  # one bad envelope spoils the message
        msgspec.msgpack.encode([[1, b"x"]] * (MAX_ENVELOPES + 1)),
    ],
)
def test_a_malformed_message_of_envelopes_is_refused_whole(frame: bytes) -> None:
    assert unpack_envelopes(frame) is None


def test_chunks_never_exceed_what_a_receiver_accepts() -> None:
    envelopes = [Envelope(rid, b"x") for rid in range(2 * MAX_ENVELOPES + 3)]
    parts = list(chunks(envelopes))
    assert [len(part) for part in parts] == [MAX_ENVELOPES, MAX_ENVELOPES, 3]
    assert [e for part in parts for e in part] == envelopes
    assert all(unpack_envelopes(pack_envelopes(part)) == part for part in parts)
