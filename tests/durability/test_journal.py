"""The journal keeps what was committed and stops cleanly at damage."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from simulation_replay import replay_ledger

from bourse.journal import Journal


def write(folder: Path, payloads: list[bytes], snapshot_at: int | None = None) -> None:
    journal = Journal(folder, fsync=True)
    journal.recover()
    for index, payload in enumerate(payloads):
        if index == snapshot_at:
            journal.snapshot(b"state-after-%d" % index)
        journal.append(payload)
        journal.commit()
    journal.close()


def test_committed_entries_come_back_in_order(tmp_path: Path) -> None:
    payloads = [b"entry-%d" % i for i in range(100)]
    write(tmp_path, payloads)
    snapshot, covered, entries = Journal(tmp_path, fsync=True).recover()
    assert (snapshot, covered, entries) == (None, 0, payloads)


def test_a_snapshot_covers_what_came_before_and_old_segments_go(tmp_path: Path) -> None:
    payloads = [b"entry-%d" % i for i in range(50)]
    write(tmp_path, payloads, snapshot_at=30)
    snapshot, covered, entries = Journal(tmp_path, fsync=True).recover()
    assert (snapshot, covered, entries) == (b"state-after-30", 30, payloads[30:])
    assert sorted(p.name for p in tmp_path.glob("journal-*.log"))[0] == "journal-000000000030.log"


@pytest.mark.parametrize("damage", ["torn", "flipped"])
def test_recovery_stops_at_the_damage_and_truncates(tmp_path: Path, damage: str) -> None:
    payloads = [b"entry-%03d" % i for i in range(40)]
    write(tmp_path, payloads)
    segment = next(tmp_path.glob("journal-*.log"))
    data = bytearray(segment.read_bytes())
    frame_size = len(data) // 40
    if damage == "torn":
        del data[-3:]  # the last frame lost its tail in a crash
        intact = 39
    else:
        data[frame_size * 25 + 10] ^= 0xFF  # one byte of frame 25 flipped
        intact = 25
    segment.write_bytes(bytes(data))
    _, _, entries = Journal(tmp_path, fsync=True).recover()
    assert entries == payloads[:intact]
    assert segment.stat().st_size == frame_size * intact
    # the journal goes on from the last intact entry
    write(tmp_path, [b"after"])
    _, _, entries = Journal(tmp_path, fsync=True).recover()
    assert entries == [*payloads[:intact], b"after"]


def test_a_replayed_ledger_reaches_the_same_state_byte_for_byte() -> None:
    rng = random.Random(3)
    original, restored_from_snapshot, replayed = replay_ledger(rng, commands=1500)
    assert original == restored_from_snapshot == replayed
