"""A TCP relay that a test can cut: a process behind it loses etcd while etcd runs on.

Invariants:
- While whole, bytes go both ways unchanged.  :meth:`TcpCut.cut` closes every relayed
  connection and from then on holds new ones open in silence (a black hole: calls time
  out, as across a broken network); :meth:`TcpCut.mend` relays new connections again.
- One thread moves everything; :meth:`TcpCut.close` stops it through a socket pair, not
  on a timer.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpCut:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake, self._waker = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake, selectors.EVENT_READ, "wake")
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._whole = True
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="tcp-cut", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._whole = False
        self._poke()

    def mend(self) -> None:
        with self._lock:
            self._whole = True
        self._poke()

    def close(self) -> None:
        with self._lock:
            self._closing = True
        self._poke()
        self._thread.join()

    def _poke(self) -> None:
        self._waker.send(b"x")

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.data == "wake":
                    self._wake.recv(4096)
                    with self._lock:
                        whole, closing = self._whole, self._closing
                    if closing:
                        self._drop_all()
                        self._selector.close()
                        self._listener.close()
                        return
                    if not whole:
                        self._drop_relayed()
                elif key.data == "accept":
                    self._accept()
                else:
                    self._relay(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        with self._lock:
            whole = self._whole
        if not whole:
            self._held.append(client)  # accepted, never answered
            return
        try:
            upstream = socket.create_connection(self._target, timeout=1.0)
        except OSError:
            client.close()
            return
        for one, other in ((client, upstream), (upstream, client)):
            one.setblocking(False)
            self._peers[one] = other
            self._selector.register(one, selectors.EVENT_READ, "relay")

    def _relay(self, source: socket.socket) -> None:
        other = self._peers.get(source)
        if other is None:
            return
        try:
            data = source.recv(65536)
            if data:
                other.setblocking(True)
                other.sendall(data)
                other.setblocking(False)
                return
        except OSError:
            pass
        self._drop(source)

    def _drop(self, one: socket.socket) -> None:
        other = self._peers.pop(one, None)
        for sock in (one, other):
            if sock is None:
                continue
            self._peers.pop(sock, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()

    def _drop_relayed(self) -> None:
        for sock in list(self._peers):
            self._drop(sock)

    def _drop_all(self) -> None:
        self._drop_relayed()
        for sock in self._held:
            sock.close()
        self._held.clear()
