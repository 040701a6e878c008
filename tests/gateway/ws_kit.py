"""A client of the gateway's order entry WebSocket for tests: send messages, read answers
by id, with deadlines (never sleeps)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

WS_PATH = "/api/v1/ws"


class OrderEntry:
    """One connection: ``call`` sends and waits for the answer of its id; answers to
    other ids that arrive meanwhile are kept for ``answer``."""

    def __init__(self, port: int, source: str = "127.0.0.1", **options: Any) -> None:
        self._stack = contextlib.ExitStack()
        self.conn: ClientConnection = self._stack.enter_context(
            connect(
                f"ws://127.0.0.1:{port}{WS_PATH}",
                source_address=(source, 0),
                open_timeout=10,
                **options,
            )
        )
        self.answers: dict[Any, dict[str, Any]] = {}
        self.unmatched: list[dict[str, Any]] = []  # answers with id null
        self.next_id = 1

    def send(self, op: str | None = None, params: Any = None, **fields: Any) -> Any:
        """Send a message; its id (a fresh integer unless ``id=`` is given)."""
        message: dict[str, Any] = dict(fields)
        if "id" not in message:
            message["id"] = self.next_id
            self.next_id += 1
        if op is not None:
            message["op"] = op
        if params is not None:
            message["params"] = params
        self.conn.send(json.dumps(message))
        return message["id"]

    def send_raw(self, text: str) -> None:
        self.conn.send(text)

    def answer(self, request_id: Any, timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while request_id not in self.answers:
            self._read(deadline)
        return self.answers.pop(request_id)

    def null_answer(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next answer whose id is null."""
        deadline = time.monotonic() + timeout_s
        while not self.unmatched:
            self._read(deadline)
        return self.unmatched.pop(0)

    def _read(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        answer = json.loads(self.conn.recv(timeout=left))
        if answer["id"] is None:
            self.unmatched.append(answer)
        else:
            assert answer["id"] not in self.answers, answer
            self.answers[answer["id"]] = answer

    def call(self, op: str, params: Any = None, **fields: Any) -> dict[str, Any]:
        return self.answer(self.send(op, params, **fields))

    def auth(self, key: str) -> dict[str, Any]:
        return self.answer(self.send("auth", api_key=key))

    def closed(self, timeout_s: float = 10.0) -> tuple[int | None, str | None]:
        """Read until the server closes: its close code and reason."""
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                self._read(deadline)
        except ConnectionClosed as closed:
            received = closed.rcvd
            return (received.code, received.reason) if received is not None else (None, None)

    def close(self) -> None:
        self._stack.close()


def ok(answer: dict[str, Any], status: int = 200) -> Any:
    assert answer["status"] == status, answer
    return answer["result"]


def refused(answer: dict[str, Any], status: int, code: str, field: str | None = None) -> None:
    assert answer["status"] == status, answer
    assert answer["error"]["code"] == code, answer
    if field is not None:
        assert answer["error"].get("field") == field, answer
