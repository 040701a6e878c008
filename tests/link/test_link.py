"""The numbered link: its rules one by one, then two ends exchanging through a channel
that drops, duplicates and reorders, which must deliver every message exactly once and
in order once the channel heals."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.link import Link, LinkState


class Data(msgspec.Struct, frozen=True, tag="data", array_like=True):
    seq: int
    payload: int


class Ack(msgspec.Struct, frozen=True, tag="ack", array_like=True):
    upto: int


Packet = Data | Ack
encode = msgspec.msgpack.Encoder().encode
decode_state = msgspec.msgpack.Decoder(LinkState[Data]).decode


def data(payload: int) -> Any:
    return lambda seq: Data(seq, payload)


def test_numbers_run_from_one_and_each_message_is_kept_until_acked() -> None:
    link: Link[Data] = Link()
    assert [link.send(data(p)).seq for p in (10, 20, 30)] == [1, 2, 3]
    assert link.unacked == 3
    assert link.ack(2) == 2
    assert link.state().retained == [Data(3, 30)]
    assert link.ack(2) == 0, "an old ack forgets nothing more"
    assert link.ack(99) == 1, "an ack past what was sent forgets what there is"
    assert link.unacked == 0
    assert link.send(data(40)).seq == 4


def test_due_gives_back_only_what_waited_a_whole_period() -> None:
    link: Link[Data] = Link()
    link.send(data(1))
    assert link.due() == [], "message 1 may still be on its way"
    link.send(data(2))
    assert link.due() == [Data(1, 1)], "1 waited a whole period, 2 did not"
    link.ack(1)
    assert link.due() == [Data(2, 2)], "1 is forgotten, 2 is now overdue"
    link.ack(2)
    assert link.due() == []


def test_accept_applies_each_number_once_and_in_order() -> None:
    link: Link[Data] = Link()
    assert link.accept(2) == "gap"
    assert link.accept(1) == "accept"
    assert link.accept(1) == "repeat"
    assert link.accept(0) == "repeat"
    assert link.accept(3) == "gap"
    assert link.accept(2) == "accept"
    assert link.received == 2


def test_the_state_encodes_and_a_restored_link_carries_on() -> None:
    link: Link[Data] = Link()
    for payload in range(5):
        link.send(data(payload))
    link.ack(2)
    link.accept(1)
    restored = Link(decode_state(encode(link.state())))
    assert restored.state() == link.state()
    assert encode(restored.state()) == encode(link.state())
    assert restored.due() == [], "what the previous due saw is not state"
    assert restored.due() == [Data(3, 2), Data(4, 3), Data(5, 4)]
    assert restored.send(data(9)).seq == 6


@pytest.mark.parametrize(
    "state",
    [LinkState(sent=1, retained=[Data(1, 0), Data(2, 0)]), LinkState(sent=-1), LinkState(0, -1)],
)
def test_an_impossible_state_is_refused(state: LinkState[Data]) -> None:
    with pytest.raises(ValueError, match="impossible"):
        Link(state)


# --- two ends and a lossy channel -------------------------------------------------------

ENDS = (0, 1)
steps = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(ENDS)),
    st.tuples(st.just("deliver"), st.sampled_from(ENDS), st.integers(0, 20)),
    st.tuples(st.just("drop"), st.sampled_from(ENDS), st.integers(0, 20)),
    st.tuples(st.just("duplicate"), st.sampled_from(ENDS), st.integers(0, 20)),
    st.tuples(st.just("tick"), st.sampled_from(ENDS)),
    st.tuples(st.just("restart"), st.sampled_from(ENDS)),
)


class Network:
    """Two ends; ``wire[k]`` holds the packets on their way to end k."""

    def __init__(self) -> None:
        self.links: list[Link[Data]] = [Link(), Link()]
        self.wire: list[list[Packet]] = [[], []]
        self.sent: list[list[int]] = [[], []]  # payloads each end sent, in order
        self.delivered: list[list[int]] = [[], []]  # payloads each end applied, in order

    def send(self, end: int) -> None:
        payload = len(self.sent[end]) * 2 + end
        self.sent[end].append(payload)
        self.wire[1 - end].append(self.links[end].send(data(payload)))

    def tick(self, end: int) -> None:
        """The periodic part: say how far this end applied, send again what is due."""
        link = self.links[end]
        self.wire[1 - end].append(Ack(link.received))
        self.wire[1 - end].extend(link.due())

    def deliver(self, end: int, index: int) -> None:
        link = self.links[end]
        match self.wire[end].pop(index):
            case Data(seq, payload):
                if link.accept(seq) == "accept":
                    self.delivered[end].append(payload)
            case Ack(upto):
                link.ack(upto)

    def restart(self, end: int) -> None:
        self.links[end] = Link(decode_state(encode(self.links[end].state())))

    def apply(self, step: tuple[Any, ...]) -> None:
        kind, end = step[0], step[1]
        wire = self.wire[end]
        if kind == "send":
            self.send(end)
        elif kind == "tick":
            self.tick(end)
        elif kind == "restart":
            self.restart(end)
        elif wire:
            index = step[2] % len(wire)
            if kind == "deliver":
                self.deliver(end, index)
            elif kind == "drop":
                del wire[index]
            else:
                wire.insert(index, wire[index])

    def heal(self) -> None:
        """A channel that loses nothing and keeps order, until nothing is in flight."""
        for _ in range(5):
            for end in ENDS:
                self.tick(end)
            while self.wire[0] or self.wire[1]:
                for end in ENDS:
                    while self.wire[end]:
                        self.deliver(end, 0)
            if not (self.links[0].unacked or self.links[1].unacked):
                return

    def check_prefix(self) -> None:
        for end in ENDS:
            received = self.delivered[end]
            assert received == self.sent[1 - end][: len(received)], "once, in order"


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=150))
def test_a_lossy_channel_delivers_everything_once_and_in_order_once_it_heals(
    plan: list[tuple[Any, ...]],
) -> None:
    network = Network()
    for step in plan:
        network.apply(step)
        network.check_prefix()
    network.heal()
    for end in ENDS:
        assert network.delivered[end] == network.sent[1 - end]
        assert network.links[end].unacked == 0
        assert network.links[end].received == len(network.sent[1 - end])
