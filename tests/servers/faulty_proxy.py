"""A fault injector: a TCP proxy in front of a real server that breaks connections on cue.

It does not imitate the server: every byte a client gets is the real server's (TLS passes
through untouched, so certificates still verify). What it adds is the failure the real
server will not produce on demand: a connection reset in the middle of a response.

    with FaultyProxy("127.0.0.1", 6443) as proxy:
        proxy.url                       # https://127.0.0.1:<port>, for a kubeconfig
        proxy.cut_after(8000)           # reset once 8000 more bytes went to clients,
                                        # then refuse (reset) every new connection...
        proxy.heal()                    # ...until healed
        proxy.cut_after(8000, refuse=False)   # one cut; new connections work
        proxy.cut()                     # reset every connection now, idle ones too (a
                                        # watch waiting for events), and refuse new ones
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN: what a crashed peer or a middlebox sends."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class FaultyProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._budget: int | None = None  # bytes to clients before the cut; None: no fault
        self._refuse = False
        self._broken = False
        self._open: set[socket.socket] = set()
        self._closing = False
        self.cuts = 0  # connections reset so far
        self._thread = threading.Thread(target=self._accept, name="faulty-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        _reset(self._listener)
        with self._lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def cut_after(self, nbytes: int, refuse: bool = True) -> None:
        """Reset every connection once ``nbytes`` more bytes have gone to clients; with
        ``refuse``, reset new connections too until :meth:`heal`."""
        with self._lock:
            self._budget, self._refuse, self._broken = nbytes, refuse, False

    def cut(self) -> None:
        """Reset every open connection now and refuse new ones until :meth:`heal`: the
        server gone, as far as its clients can tell."""
        with self._lock:
            self._budget, self._refuse, self._broken = None, True, True
            others = list(self._open)
        for sock in others:  # wakes their pumps, which then reset them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def heal(self) -> None:
        with self._lock:
            self._budget, self._refuse, self._broken = None, False, False

    # -- plumbing ------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._broken and self._refuse
            if refused:
                self.cuts += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst, counted in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=self._pump, args=(src, dst, counted, client, upstream), daemon=True
                ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        counted: bool,
        client: socket.socket,
        upstream: socket.socket,
    ) -> None:
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                if counted and self._spend(len(data)):
                    self.cuts += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (client, upstream):
            _reset(sock)
        with self._lock:
            self._open.discard(client)
            self._open.discard(upstream)

    def _spend(self, n: int) -> bool:
        """Count ``n`` bytes toward the cut; True if this connection must be cut now (the
        other open ones are cut here)."""
        with self._lock:
            if self._broken:
                return True
            if self._budget is None:
                return False
            self._budget -= n
            if self._budget > 0:
                return False
            self._budget, self._broken = None, self._refuse
            others = list(self._open)
        for sock in others:  # wakes their pumps, which then reset them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return True


__all__ = ["FaultyProxy"]
