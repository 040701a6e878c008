"""Users of one shard: sign-up, deposits and withdrawals (their keys: keys.py).

Invariants:
- A user id carries this shard (``bourse.ids``) and is never reused; the shard stores
  only the SHA-256 of a key's secret, which the gateway drew.  A new user has one key,
  with every scope.
- A deposit adds to the free balance and to ``deposits``, a withdrawal takes from the
  free balance (never below zero, never from what orders lock) and adds to
  ``withdrawals``: both keep the shard's conservation equation.  No balance exceeds
  ``MAX_UNITS``.
"""

from __future__ import annotations

from actors.accounts.events import balance_view
from actors.accounts.protocol import (
    AccountsReply,
    BalancesReply,
    CreateUser,
    Deposit,
    ErrorReply,
    UserCreated,
    Withdraw,
)
from actors.accounts.shard import ShardState
from actors.accounts.state import User, sign_up_key
from bourse.ids import make_user_id
from bourse.money import MAX_UNITS


class Users:
    def __init__(self, state: ShardState) -> None:
        self.state = state

    def create(self, now: int, request: CreateUser) -> AccountsReply:
        if len(request.secret_hash) != 32:
            return ErrorReply(400, "INVALID_FIELD", "secret_hash must be 32 bytes", "secret_hash")
        state = self.state
        user_id = make_user_id(state.shard, state.next_user)
        state.next_user += 1
        state.users[user_id] = User(
            user_id, b"", keys={request.secret_hash: sign_up_key(now)}, next_key=2
        )
        return UserCreated(user_id)

    def deposit(self, user: User, request: Deposit) -> AccountsReply:
        state = self.state
        if not (request.auth.admin or state.config.exchange.faucet):
            return ErrorReply(403, "FORBIDDEN", "deposits need the admin key (the faucet is off)")
        error = self._check_amount(request.asset, request.amount)
        if error is not None:
            return error
        balance = user.balance(request.asset)
        if balance.free + balance.locked + request.amount > MAX_UNITS:
            return ErrorReply(400, "OUT_OF_RANGE", "the balance would be too large", "amount")
        balance.free += request.amount
        state.deposits[request.asset] += request.amount
        state.changes.balance(user.user_id, request.asset)
        return BalancesReply([balance_view(request.asset, balance)])

    def withdraw(self, user: User, request: Withdraw) -> AccountsReply:
        error = self._check_amount(request.asset, request.amount)
        if error is not None:
            return error
        balance = user.balance(request.asset)
        if request.amount > balance.free:
            return ErrorReply(
                422, "INSUFFICIENT_FUNDS", "amount is more than the free balance", "amount"
            )
        balance.free -= request.amount
        self.state.withdrawals[request.asset] += request.amount
        self.state.changes.balance(user.user_id, request.asset)
        return BalancesReply([balance_view(request.asset, balance)])

    def _check_amount(self, asset: str, amount: int) -> ErrorReply | None:
        if asset not in self.state.assets:
            return ErrorReply(400, "UNKNOWN_ASSET", f"unknown asset {asset!r}", "asset")
        if not 0 < amount <= MAX_UNITS:
            return ErrorReply(400, "NOT_POSITIVE", "amount must be greater than zero", "amount")
        return None
