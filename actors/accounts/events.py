"""What handling one message changed for users, published as private events once it is
handled: on ``fills.<user_id>``, ``orders.<user_id>`` and ``balances.<user_id>``, and
key revocations on ``keys.<shard>``.

Invariants:
- One message's changes publish once, after it is handled whole: an order or a balance
  touched several times is published once, as it ends up; each new fill once.
- An event for a topic nobody subscribed to is neither built nor sent.  Whether anyone
  listens never changes what the ledger holds or replies, so it is not state.
"""

from __future__ import annotations

from collections.abc import Callable

from actors.accounts.protocol import (
    BalanceEvent,
    BalanceView,
    FillEvent,
    FillView,
    KeyRevoked,
    OrderEvent,
    PrivateEvent,
)
from actors.accounts.state import Balance, Order, User


class Changes:
    def __init__(self, keys_topic: bytes) -> None:
        self.keys_topic = keys_topic
        self.orders: dict[int, Order] = {}
        self.balances: set[tuple[int, str]] = set()
        self.fills: list[tuple[int, FillView]] = []
        self.revocations: list[KeyRevoked] = []
        # Set by the actor from its publisher's subscriptions.
        self.listening: Callable[[bytes], bool] = _everyone
        self.anyone_listening: Callable[[], bool] = _always

    def order(self, order: Order) -> None:
        self.orders[order.order_id] = order

    def balance(self, user_id: int, asset: str) -> None:
        self.balances.add((user_id, asset))

    def fill(self, user_id: int, fill: FillView) -> None:
        self.fills.append((user_id, fill))

    def revoked(self, user_id: int, key_id: int, revocations: int) -> None:
        self.revocations.append(KeyRevoked(user_id, key_id, revocations))

    def publish(self, users: dict[int, User], events: list[tuple[bytes, PrivateEvent]]) -> None:
        """Add the changes to ``events`` (topic, event), and forget them."""
        if self.anyone_listening():
            listening = self.listening
            for user_id, fill in self.fills:
                topic = f"fills.{user_id}".encode()
                if listening(topic):
                    events.append((topic, FillEvent(user_id, fill)))
            for order in self.orders.values():
                topic = f"orders.{order.user_id}".encode()
                if listening(topic):
                    events.append((topic, OrderEvent(order.user_id, order.view())))
            for user_id, asset in sorted(self.balances):
                topic = f"balances.{user_id}".encode()
                if listening(topic):
                    view = balance_view(asset, users[user_id].balance(asset))
                    events.append((topic, BalanceEvent(user_id, view)))
            if self.revocations and listening(self.keys_topic):
                events.extend((self.keys_topic, revoked) for revoked in self.revocations)
        self.revocations.clear()
        self.fills.clear()
        self.orders.clear()
        self.balances.clear()


def balance_view(asset: str, balance: Balance) -> BalanceView:
    return BalanceView(asset, balance.free, balance.locked)


def _everyone(topic: bytes) -> bool:
    return True


def _always() -> bool:
    return True
