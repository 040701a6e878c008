"""Messages of envelopes, byte by byte: what packs unpacks, and what is malformed is refused."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.framing import (
    BATCH,
    MAX_ENVELOPES,
    MAX_TRACE,
    Envelope,
    chunks,
    messages,
    pack_envelopes,
    unpack_envelopes,
    unpack_rid,
)

envelopes = st.lists(
    st.builds(
        Envelope,
        st.integers(0, 2**64 - 1),
        st.binary(max_size=64),
        st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=MAX_TRACE
        ).map(str.encode),
    ),
    min_size=1,
    max_size=40,
)


@given(envelopes)
def test_the_messages_for_a_peer_carry_every_envelope_in_order(sent: list[Envelope]) -> None:
    received: list[Envelope] = []
    for frames, carried in messages(sent):
        if frames[0] == BATCH:
            assert len(frames) == 2
            unpacked = unpack_envelopes(frames[1])
        else:  # the plain form, for a single envelope
            rid = unpack_rid(frames[0])
            assert rid is not None
            unpacked = [Envelope(rid, frames[1], frames[2] if len(frames) == 3 else b"")]
        assert unpacked == carried
        received.extend(unpacked)
    assert received == sent


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
