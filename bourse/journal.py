"""An append-only journal with snapshots: what an actor applied survives a crash.

Invariants:
- A frame is ``[length u32][crc32 u32][payload]``; entries are numbered from 0 in the
  order appended.  ``commit`` writes every buffered entry and, with ``fsync``, makes it
  and every entry written before it durable before it returns (group commit: one fsync
  per batch).  ``commit(sync=False)`` only writes: those entries become durable with the
  next syncing commit, a snapshot or ``close``.
- A snapshot file ``snapshot-<n>.bin`` holds the state after entries ``0..n-1``; it is
  written to a temporary file, fsynced and renamed, so a crash mid-write leaves the older
  snapshot intact.  Entries ``0..n-1`` are committed before a snapshot is begun, so a
  child process may write it while the journal goes on.  Segment ``journal-<s>.log``
  holds entries from ``s`` on; a segment is removed only once a newer snapshot covers
  all of it.
- Recovery loads the newest intact snapshot and yields the entries after it; it stops at
  the first torn or corrupt frame, truncates the journal there (later segments are set
  aside as ``.damaged``) and logs how many bytes it dropped.
- A standby's journal is the leader's, record for record: ``commit`` returns the frames
  it wrote (to stream), ``append_framed`` takes such frames whole (checking every
  frame), and ``install`` starts the journal afresh from a leader's state at an index.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

log = logging.getLogger("journal")

_HEADER = struct.Struct(">II")
FRAME_HEADER = _HEADER.size  # bytes a frame adds to its payload
KEEP_SNAPSHOTS = 2


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_frames(data: bytes) -> tuple[list[bytes], int]:
    """The intact frames at the start of ``data`` and the offset where they end."""
    frames: list[bytes] = []
    offset = 0
    size = len(data)
    while offset + _HEADER.size <= size:
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if end > size:
            break
        payload = data[offset + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        frames.append(payload)
        offset = end
    return frames, offset


class Journal:
    def __init__(self, folder: Path, fsync: bool) -> None:
        self.folder = folder
        self.fsync = fsync
        self.next_index = 0
        self._buffer: list[bytes] = []
        self._unsynced = False  # written since the last fdatasync
        self._file: int | None = None
        folder.mkdir(parents=True, exist_ok=True)

    # --- recovery -----------------------------------------------------------------------

    def recover(self) -> tuple[bytes | None, int, list[bytes]]:
        """(newest intact snapshot or None, entries it covers, the entries after it)."""
        for path in self.folder.glob("snapshot-*.tmp"):
            path.unlink(missing_ok=True)  # a write that never finished
        snapshot, covered = self._newest_snapshot()
        entries: list[bytes] = []
        index = None
        damaged = False
        for start, path in self._segments():
            if damaged:
                path.rename(path.with_suffix(".damaged"))
                log.error("set aside a segment after damage", extra={"fields": {"file": path.name}})
                continue
            if index is not None and start != index:
                log.error(
                    "journal segments do not follow on", extra={"fields": {"file": path.name}}
                )
            index = start
            data = path.read_bytes()
            frames, good = read_frames(data)
            for payload in frames:
                if index >= covered:
                    entries.append(payload)
                index += 1
            if good < len(data):
                damaged = True
                with path.open("r+b") as handle:
                    handle.truncate(good)
                log.error(
                    "journal damaged: truncated",
                    extra={"fields": {"file": path.name, "dropped_bytes": len(data) - good}},
                )
        self.next_index = max(covered, index or 0)
        if covered > (index or 0) and index is not None:
            log.error("snapshot is newer than the journal", extra={"fields": {"covered": covered}})
        self._open_segment(self.next_index)
        return snapshot, covered, entries

    def _newest_snapshot(self) -> tuple[bytes | None, int]:
        for index, path in sorted(self._snapshots(), reverse=True):
            frames, _ = read_frames(path.read_bytes())
            if len(frames) == 1:
                return frames[0], index
            log.error(
                "snapshot damaged, trying an older one", extra={"fields": {"file": path.name}}
            )
        return None, 0

    def _snapshots(self) -> list[tuple[int, Path]]:
        return [
            (int(p.stem.removeprefix("snapshot-")), p) for p in self.folder.glob("snapshot-*.bin")
        ]

    def _segments(self) -> list[tuple[int, Path]]:
        return sorted(
            (int(p.stem.removeprefix("journal-")), p) for p in self.folder.glob("journal-*.log")
        )

    # --- appending ----------------------------------------------------------------------

    def append(self, payload: bytes) -> None:
        self._buffer.append(frame(payload))

    @property
    def appended(self) -> int:
        """The journal's length counting the entries appended but not yet committed."""
        return self.next_index + len(self._buffer)

    def commit(self, sync: bool = True) -> tuple[int, int, bytes] | None:
        """Write the buffered entries (and make them durable, with ``sync``); the index of
        the first, their count and their frames, or None when there were none."""
        written_batch = None
        if self._buffer:
            data = b"".join(self._buffer)
            written_batch = (self.next_index, len(self._buffer), data)
            self.next_index += len(self._buffer)
            self._buffer.clear()
            self._write(data)
        if sync and self._unsynced and self.fsync:
            assert self._file is not None
            os.fdatasync(self._file)
            self._unsynced = False
        return written_batch

    def _write(self, data: bytes) -> None:
        assert self._file is not None, "recover() opens the journal"
        written = os.write(self._file, data)
        while written < len(data):
            written += os.write(self._file, data[written:])
        self._unsynced = True

    def append_framed(self, index: int, count: int, data: bytes, sync: bool) -> list[bytes]:
        """Write ``count`` framed entries that another journal wrote at ``index`` (which
        must be this journal's next); their payloads.  Raises ValueError, writing
        nothing, when the frames are not exactly ``count`` intact ones."""
        if index != self.next_index or self._buffer:
            raise ValueError(f"entries at {index} do not follow {self.next_index}")
        payloads, end = read_frames(data)
        if len(payloads) != count or end != len(data):
            raise ValueError(f"expected {count} intact frames at {index}")
        self._write(data)
        self.next_index += count
        self.commit(sync)
        return payloads

    def install(self, index: int, state: bytes) -> None:
        """Start afresh from ``state``, the state after another journal's entries before
        ``index``: a snapshot at ``index``, and every older segment and snapshot gone."""
        self._buffer.clear()
        if self._file is not None:
            os.close(self._file)
            self._file = None
        for _, path in self._segments():
            path.unlink()
        self.write_snapshot(index, state)
        for covered, path in self._snapshots():
            if covered != index:
                _drop_snapshot(path)
        self._open_segment(index)
        self.next_index = index
        self._unsynced = False

    def snapshot(self, state: bytes) -> None:
        """Write a snapshot of the state after every committed entry, then drop what it
        covers."""
        index = self.begin_snapshot()
        self.write_snapshot(index, state)
        self.finish_snapshot(index)

    def begin_snapshot(self) -> int:
        """Make every entry durable and start a new segment; the snapshot that
        :meth:`write_snapshot` then writes for the returned index covers exactly the
        entries before it, whoever writes it and however long it takes."""
        self.commit()
        index = self.next_index
        self._open_segment(index)
        return index

    def write_snapshot(self, index: int, state: bytes) -> None:
        """Write ``state`` as the snapshot at ``index`` (durably, all or nothing).  Uses
        nothing but the file system, so a forked child process may call it."""
        final = self.snapshot_path(index)
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.write(_HEADER.pack(len(state), zlib.crc32(state)))
            handle.write(state)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(final)
        self._sync_folder()

    def snapshot_path(self, index: int) -> Path:
        return self.folder / f"snapshot-{index:012d}.bin"

    def finish_snapshot(self, index: int) -> None:
        """Once the snapshot at ``index`` is on disk: drop the segments it covers and all
        but the newest snapshots."""
        for start, path in self._segments():
            if start < index:
                path.unlink()
        for _, path in sorted(self._snapshots())[:-KEEP_SNAPSHOTS]:
            _drop_snapshot(path)

    def close(self) -> None:
        self.commit()
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def _open_segment(self, start: int) -> None:
        if self._file is not None:
            os.close(self._file)
        path = self.folder / f"journal-{start:012d}.log"
        self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._sync_folder()

    def _sync_folder(self) -> None:
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _drop_snapshot(path: Path) -> None:
    path.unlink()
    path.with_suffix(".sha256").unlink(missing_ok=True)  # its state hash, if one was noted
