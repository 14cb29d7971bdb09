"""
Accept both Foxglove WebSocket subprotocol names in front of a server that accepts one.

foxglove-sdk's server accepts only ``foxglove.sdk.v1``.  Clients built on the older ws-protocol
libraries (Lichtblick, roslibjs-foxglove, the Foxglove app before the SDK) offer only
``foxglove.websocket.v1`` and get HTTP 400.  Foxglove states that the two names denote the same
protocol, so a relay that renames the offer in the client's upgrade request, and the choice in
the server's 101 response, lets both kinds of client connect.  The WebSocket accept key depends
on the client's key alone, so the renaming keeps the handshake valid; after it the relay copies
bytes both ways untouched.

One thread accepts; each connection gets a thread that does its handshake and then copies both
directions with a selector.  A client that sends no complete request within HANDSHAKE_TIMEOUT_S,
or a request over MAX_REQUEST_BYTES, is answered 400 and closed.
"""

import selectors
import socket
import threading
from typing import List, Optional, Sequence, Set, Tuple

SDK_SUBPROTOCOL = 'foxglove.sdk.v1'
WEBSOCKET_SUBPROTOCOL = 'foxglove.websocket.v1'
PROTOCOL_HEADER = b'sec-websocket-protocol'
HEADER_END = b'\r\n\r\n'
# Browsers send 1-2 KB of headers; anything near this is not a WebSocket upgrade.
MAX_REQUEST_BYTES = 65536
HANDSHAKE_TIMEOUT_S = 10.0
CHUNK_BYTES = 65536
# How long a refused client may go on sending before its connection is closed.
REFUSAL_DRAIN_S = 1.0
BAD_REQUEST = (b'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')


def offered_subprotocols(request_head: bytes) -> List[str]:
    """
    Return the subprotocols an HTTP upgrade request offers, in its order.

    :param request_head: the request line and headers, without the blank line.
    :return: the names of every Sec-WebSocket-Protocol header (a header may list several).
    """
    offered: List[str] = []
    for line in request_head.split(b'\r\n')[1:]:
        name, separator, value = line.partition(b':')
        if separator and name.strip().lower() == PROTOCOL_HEADER:
            offered.extend(part.strip().decode('latin-1') for part in value.split(b',')
                           if part.strip())
    return offered


def with_subprotocol(head: bytes, names: Sequence[str]) -> bytes:
    """
    Replace the Sec-WebSocket-Protocol headers of an HTTP head with one header.

    :param head: a request or response head, without the blank line.
    :param names: the subprotocols the new header lists.
    :return: the head with the other headers unchanged and in order.
    """
    lines = head.split(b'\r\n')
    kept = [lines[0]] + [line for line in lines[1:]
                         if line.partition(b':')[0].strip().lower() != PROTOCOL_HEADER]
    kept.append(b'Sec-WebSocket-Protocol: ' + ', '.join(names).encode('latin-1'))
    return b'\r\n'.join(kept)


def read_head(connection: socket.socket) -> Tuple[bytes, bytes]:
    """
    Read an HTTP head from a socket.

    :param connection: a socket with a timeout set.
    :return: (the head without the blank line, the bytes that followed it).
    :raises ValueError: when the peer closed first or the head exceeds MAX_REQUEST_BYTES.
    :raises socket.timeout: when it did not come in time.
    """
    buffer = b''
    while HEADER_END not in buffer:
        if len(buffer) > MAX_REQUEST_BYTES:
            raise ValueError(f'no end of the HTTP head within {MAX_REQUEST_BYTES} bytes')
        chunk = connection.recv(CHUNK_BYTES)
        if not chunk:
            raise ValueError('the peer closed the connection during the handshake')
        buffer += chunk
    head, _, rest = buffer.partition(HEADER_END)
    return head, rest


def refuse(client: socket.socket) -> None:
    """
    Answer 400 and close without losing the answer.

    Closing a socket with unread input resets the connection, and the client may then never
    read the answer; so stop writing, read what the client still sends for a moment, then close.

    :param client: the client's socket, with a timeout set.
    """
    try:
        client.sendall(BAD_REQUEST)
        client.shutdown(socket.SHUT_WR)
        client.settimeout(REFUSAL_DRAIN_S)
        while client.recv(CHUNK_BYTES):
            pass
    except OSError:
        pass


class SubprotocolRelay:
    """
    Listen on a TCP port and relay each connection to an upstream WebSocket server.

    A client offering ``upstream_subprotocol`` passes through unchanged.  A client offering only
    one of ``aliases`` has its offer renamed on the way in and the server's choice renamed back.
    """

    def __init__(self, host: str, port: int, upstream_port: int,
                 upstream_subprotocol: str = SDK_SUBPROTOCOL,
                 aliases: Sequence[str] = (WEBSOCKET_SUBPROTOCOL,)):
        """
        Bind the listening socket and start accepting.

        :param host: address to listen on.
        :param port: port to listen on; 0 picks a free one.
        :param upstream_port: the server's port on 127.0.0.1.
        :param upstream_subprotocol: the one name the server accepts.
        :param aliases: other names of the same protocol that clients may offer.
        :raises OSError: when the address cannot be bound.
        """
        self._upstream = ('127.0.0.1', upstream_port)
        self._upstream_subprotocol = upstream_subprotocol
        self._aliases = tuple(aliases)
        self._listener = socket.create_server((host, port))
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: Set[socket.socket] = set()
        self._threads: List[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name='subprotocol-relay',
                                          daemon=True)
        self._acceptor.start()

    @property
    def port(self) -> int:
        """Return the port the relay listens on."""
        return self._listener.getsockname()[1]

    def stop(self) -> None:
        """Stop accepting, close every relayed connection and wait for the threads."""
        self._stopping.set()
        # shutdown() wakes the accept() blocked in the acceptor thread; close() alone may not.
        for sock in [self._listener, *self._tracked()]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._acceptor.join(timeout=5.0)
        for thread in list(self._threads):
            thread.join(timeout=5.0)

    def _tracked(self) -> List[socket.socket]:
        with self._lock:
            return list(self._open)

    def _track(self, sock: socket.socket, keep: bool) -> None:
        with self._lock:
            if keep:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,),
                                      name='subprotocol-relay-connection', daemon=True)
            self._threads = [alive for alive in self._threads if alive.is_alive()] + [thread]
            thread.start()

    def rename_for(self, offered: Sequence[str]) -> Optional[str]:
        """
        Return the alias to rename for a client's offer, or None to pass it through.

        :param offered: the subprotocols the client offers.
        :return: the first alias offered, when the upstream name is not.
        """
        if self._upstream_subprotocol in offered:
            return None
        return next((name for name in offered if name in self._aliases), None)

    def _serve(self, client: socket.socket) -> None:
        self._track(client, True)
        upstream: Optional[socket.socket] = None
        try:
            client.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                head, rest = read_head(client)
            except (ValueError, OSError):
                refuse(client)
                return
            alias = self.rename_for(offered_subprotocols(head))
            if alias is not None:
                head = with_subprotocol(head, [self._upstream_subprotocol])
            upstream = socket.create_connection(self._upstream, timeout=HANDSHAKE_TIMEOUT_S)
            self._track(upstream, True)
            upstream.sendall(head + HEADER_END + rest)
            response, body = read_head(upstream)
            if alias is not None and offered_subprotocols(response):
                response = with_subprotocol(response, [alias])
            client.sendall(response + HEADER_END + body)
            client.settimeout(None)
            upstream.settimeout(None)
            self._copy_both_ways(client, upstream)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    self._track(sock, False)
                    sock.close()

    def _copy_both_ways(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peer:
                selector.register(sock, selectors.EVENT_READ)
            open_reads = 2
            while open_reads and not self._stopping.is_set():
                for key, _ in selector.select(timeout=1.0):
                    source = key.fileobj
                    data = source.recv(CHUNK_BYTES)
                    if data:
                        peer[source].sendall(data)
                        continue
                    # The source finished sending: pass the half-close on, keep the other way.
                    selector.unregister(source)
                    open_reads -= 1
                    try:
                        peer[source].shutdown(socket.SHUT_WR)
                    except OSError:
                        return
