"""The accounts actor: one shard's Ledger behind a ROUTER, a PUB and a DEALER per engine.

Invariants:
- Requests come in on the ROUTER (gateways, feeds); engine reports on the DEALERs, whose
  identity ``accounts-<k>`` lets every engine address this shard.
- A body that does not decode is answered with a 400 ErrorReply naming the problem when
  it came with a return address, and the shard keeps serving.
- Everything the ledger produces in a turn is sent after the runtime's commit.
"""

from __future__ import annotations

import logging

import msgspec

from actors.accounts.ledger import Ledger, LedgerOutput
from actors.accounts.protocol import AccountsRequest, ErrorReply
from actors.engine.protocol import EngineOutbound, Report, shard_identity
from bourse.config import Config
from transport.runtime import Actor, Inbound, Outbox, Runtime

log = logging.getLogger("accounts")

ROUTER = "router"


def engine_socket(market: str) -> str:
    return f"engine:{market}"


class AccountsActor(Actor):
    def __init__(self, config: Config, shard: int) -> None:
        self.name = f"accounts-{shard}"
        self.config = config
        self.process = config.shards[shard]
        self.ledger = Ledger(config, shard)
        self._requests = msgspec.msgpack.Decoder(AccountsRequest)
        self._reports = msgspec.msgpack.Decoder(EngineOutbound)
        self._encoder = msgspec.msgpack.Encoder()

    def setup(self, runtime: Runtime) -> None:
        runtime.bind_router(ROUTER, self.process.router.bind)
        runtime.bind_pub(self.process.pub.bind)
        identity = shard_identity(self.ledger.shard)
        for market, engine in self.config.engines.items():
            runtime.connect_dealer(engine_socket(market), engine.router.connect, identity)
        log.info("accounts shard ready", extra={"fields": {"shard": self.ledger.shard}})

    def on_batch(self, batch: list[Inbound], now: int, out: Outbox) -> None:
        produced = LedgerOutput()
        for message in batch:
            if message.socket == ROUTER:
                self._on_request(message, now, produced, out)
            else:
                self._on_engine(message, produced)
        encode = self._encoder.encode
        for peer, rid, reply in produced.replies:
            out.reply(ROUTER, peer, rid, encode(reply))
        for market, request in produced.engine:
            out.send(engine_socket(market), 0, encode(request))
        for topic, event in produced.events:
            out.publish(topic, encode(event))

    def _on_request(
        self, message: Inbound, now: int, produced: LedgerOutput, out: Outbox
    ) -> None:
        try:
            request = self._requests.decode(message.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            reply = ErrorReply(400, "BAD_REQUEST", f"request does not decode: {error}")
            out.reply(ROUTER, message.peer, message.rid, self._encoder.encode(reply))
            return
        self.ledger.handle_request(now, message.peer, message.rid, request, produced)

    def _on_engine(self, message: Inbound, produced: LedgerOutput) -> None:
        try:
            reply = self._reports.decode(message.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error("engine message does not decode", extra={"fields": {"error": str(error)}})
            return
        if isinstance(reply, Report):
            self.ledger.handle_report(reply, produced)
        else:
            log.warning("engine said", extra={"fields": {"reply": repr(reply)}})
