"""Loopback TCP endpoints that stop answering: a relay that can freeze, and a tarpit.

A frozen relay holds every byte, as a hung network path would; a tarpit is a relay frozen
from the start with nothing behind it, as a black-holed endpoint is.
"""

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Relay:
    """Relays 127.0.0.1:port to a target until frozen; frozen, it passes nothing either way."""

    def __init__(self, server: socket.socket, target: tuple[str, int] | None) -> None:
        """Listening; relaying unless there is no target."""
        self.port: int = server.getsockname()[1]
        self._server = server
        self._target = target
        self._flowing = threading.Event()
        if target is not None:
            self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._held: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """As an https endpoint (a TLS handshake hangs like any request would)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def held_connections(self) -> int:
        """Connections accepted while frozen and not yet closed by their client."""
        with self._lock:
            return len(self._held)

    def freeze(self) -> None:
        """From now on nothing passes: open connections hang, new ones get no answer."""
        self._flowing.clear()

    def serve(self) -> None:
        """Accept until closed; each connection gets a pump per direction, or is held."""
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            if self._target is None or not self._flowing.is_set():
                with self._lock:
                    self._held.add(client)
                threading.Thread(target=self._hold, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        # Read what the client sends and answer nothing, until it gives up and closes.
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass
        with self._lock:
            self._held.discard(conn)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                # Frozen: hold the bytes until the relay closes, as a black hole would.
                while not self._flowing.is_set():
                    if self._closed.wait(0.2):
                        return
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._server.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextmanager
def relay(target: tuple[str, int] | None) -> Iterator[Relay]:
    """A relay to target on a free loopback port, for the duration of the block."""
    proxy = Relay(socket.create_server(("127.0.0.1", 0), backlog=128), target)
    thread = threading.Thread(target=proxy.serve, name="relay", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(2)


def tarpit() -> contextlib.AbstractContextManager[Relay]:
    """A port that accepts every connection and never answers."""
    return relay(None)
