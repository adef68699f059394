"""Relays TCP connections from an address of the node to the apiserver on loopback.

Pods cannot reach this host's loopback (packets to 127.0.0.0/8 from a bridge are martians,
and letting them through with `route_localnet` would open every loopback server, etcd's
unauthenticated port among them, to every Pod). The `kubernetes` Service therefore leads to
the node's address, where this relay passes the bytes to the one port it was given: TLS
stays end to end between the Pod and the apiserver.
"""

import contextlib
import socket
import threading
from dataclasses import dataclass, field

_CHUNK = 64 * 1024


@dataclass
class Relay:
    """Accepts on `listen` and copies each connection to and from `target`."""

    listen: tuple[str, int]
    target: tuple[str, int]
    _server: socket.socket | None = field(default=None, init=False)
    _open: set[socket.socket] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def start(self) -> None:
        """Listen; connections are served on threads of their own until stop()."""
        server = socket.create_server(self.listen)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), name="relay", daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _address = server.accept()
            except OSError:
                return  # stopped
            threading.Thread(
                target=self._serve, args=(client,), name="relay-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket) -> None:
        """One connection: a copy each way; both sockets closed once both copies ended."""
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
        back = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
        back.start()
        _copy(client, upstream)
        back.join()
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(_CHUNK):
            sink.sendall(data)
        # Half-close: the other direction may still have bytes to deliver.
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
