"""A TCP forwarder on 127.0.0.1 whose connections a test can cut, to see a client survive a dropped link."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CutProxy:
    """Listens on `listen` (0: any free port), forwards each connection to `port`; `cut()` closes every connection
    open now (new ones still pass)."""

    def __init__(self, port: int, listen: int = 0) -> None:
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", listen))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cuts = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self._shut()
        self.cuts += 1

    def close(self) -> None:
        self.listener.close()
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            open_now, self._open = self._open, []
        for end in open_now:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()


@contextmanager
def cut_proxy(port: int, listen: int = 0) -> Iterator[CutProxy]:
    proxy = CutProxy(port, listen)
    try:
        yield proxy
    finally:
        proxy.close()
