"""Drive a ledger through the in-process simulation, journaling what its actor would,
then rebuild it from a snapshot and from the journal alone."""

from __future__ import annotations

import random

import msgspec
from test_ledger_properties import CONFIG_LOADED, Run, _random_step

from actors.accounts.ledger import Ledger
from actors.accounts.protocol import AccountsRequest
from actors.accounts.shard import LedgerOutput
from actors.engine.protocol import Report

_encoder = msgspec.msgpack.Encoder()


def replay_ledger(rng: random.Random, commands: int) -> tuple[str, str, str]:
    """(hash of the live ledger, of snapshot -> restore, of an early snapshot plus a
    replay of every input after it: the recovery path of a real shard)."""
    run = Run(CONFIG_LOADED)
    inputs: list[tuple[int, object]] = []
    ledger = run.sim.ledgers[0]
    starting_point = ledger.snapshot_bytes()
    original_request = ledger.handle_request
    original_report = ledger.handle_report

    def record_request(
        now: int, peer: bytes, rid: int, request: AccountsRequest, out: LedgerOutput
    ) -> None:
        inputs.append((now, ("request", peer, rid, _encoder.encode(request))))
        original_request(now, peer, rid, request, out)

    def record_report(report: Report, out: LedgerOutput) -> None:
        inputs.append((0, ("report", _encoder.encode(report))))
        original_report(report, out)

    ledger.handle_request = record_request  # type: ignore[method-assign]
    ledger.handle_report = record_report  # type: ignore[method-assign]
    for _ in range(commands):
        run.apply(_random_step(rng))
    live = ledger.state_hash()
    restored = Ledger.restore(CONFIG_LOADED, ledger.snapshot_bytes()).state_hash()
    fresh = Ledger.restore(CONFIG_LOADED, starting_point)
    request_decoder = msgspec.msgpack.Decoder(AccountsRequest)
    report_decoder = msgspec.msgpack.Decoder(Report)
    for now, item in inputs:
        out = LedgerOutput()
        if item[0] == "request":
            _, peer, rid, body = item
            fresh.handle_request(now, peer, rid, request_decoder.decode(body), out)  # type: ignore[arg-type]
        else:
            fresh.handle_report(report_decoder.decode(item[1]), out)  # type: ignore[arg-type]
    return live, restored, fresh.state_hash()
