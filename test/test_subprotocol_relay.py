"""The subprotocol relay over real sockets, against a small upstream that records what it got."""

import socket
import threading
from typing import List

from play_lmp_ros.subprotocol_relay import (MAX_REQUEST_BYTES, offered_subprotocols,
                                            SDK_SUBPROTOCOL, SubprotocolRelay,
                                            WEBSOCKET_SUBPROTOCOL, with_subprotocol)
import pytest

REQUEST = (b'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
           b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n')


class Upstream:
    """Accepts one connection: answers 101 with the first offered name, then echoes upper-case."""

    def __init__(self):
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.requests: List[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            buffer = b''
            while b'\r\n\r\n' not in buffer:
                buffer += connection.recv(4096)
            head, _, rest = buffer.partition(b'\r\n\r\n')
            self.requests.append(head)
            chosen = offered_subprotocols(head)[:1]
            response = b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket'
            if chosen:
                response = with_subprotocol(response, chosen)
            connection.sendall(response + b'\r\n\r\n')
            data = rest
            while True:
                if data:
                    connection.sendall(data.upper())
                data = connection.recv(4096)
                if not data:
                    break


def handshake(port: int, offer: bytes) -> socket.socket:
    client = socket.create_connection(('127.0.0.1', port), timeout=10.0)
    client.sendall(REQUEST + offer + b'\r\n')
    return client


def read_head(client: socket.socket) -> bytes:
    buffer = b''
    while b'\r\n\r\n' not in buffer:
        chunk = client.recv(4096)
        if not chunk:
            break
        buffer += chunk
    return buffer.partition(b'\r\n\r\n')[0]


def test_offers_are_parsed_across_headers_and_lists():
    head = REQUEST + b'sec-websocket-protocol: a, b\r\nSec-WebSocket-Protocol:c'
    assert offered_subprotocols(head) == ['a', 'b', 'c']
    assert offered_subprotocols(REQUEST.rstrip()) == []
    renamed = with_subprotocol(head, ['z'])
    assert offered_subprotocols(renamed) == ['z']
    assert renamed.startswith(b'GET / HTTP/1.1\r\nHost: x\r\n')


@pytest.mark.parametrize('offer, upstream_saw, client_sees', [
    (WEBSOCKET_SUBPROTOCOL, [SDK_SUBPROTOCOL], WEBSOCKET_SUBPROTOCOL),
    (SDK_SUBPROTOCOL, [SDK_SUBPROTOCOL], SDK_SUBPROTOCOL),
    (f'{WEBSOCKET_SUBPROTOCOL}, {SDK_SUBPROTOCOL}', [WEBSOCKET_SUBPROTOCOL, SDK_SUBPROTOCOL],
     WEBSOCKET_SUBPROTOCOL),
    ('mqtt', ['mqtt'], 'mqtt'),
])
def test_relay_renames_only_the_older_name_and_copies_bytes(offer, upstream_saw, client_sees):
    upstream = Upstream()
    relay = SubprotocolRelay('127.0.0.1', 0, upstream.port)
    try:
        client = handshake(relay.port, f'Sec-WebSocket-Protocol: {offer}\r\n'.encode())
        with client:
            response = read_head(client)
            assert response.startswith(b'HTTP/1.1 101'), response
            assert offered_subprotocols(response) == [client_sees]
            client.sendall(b'frame bytes')
            echoed = b''
            while len(echoed) < len(b'frame bytes'):
                echoed += client.recv(4096)
            assert echoed == b'FRAME BYTES'
            # A half-close reaches the upstream, which then ends the connection.
            client.shutdown(socket.SHUT_WR)
            assert client.recv(4096) == b''
        upstream.thread.join(timeout=10.0)
        assert not upstream.thread.is_alive()
        assert offered_subprotocols(upstream.requests[0]) == upstream_saw
    finally:
        relay.stop()
        upstream.listener.close()


def test_a_request_without_an_end_is_refused_and_the_relay_stops():
    upstream = Upstream()
    relay = SubprotocolRelay('127.0.0.1', 0, upstream.port)
    try:
        client = handshake(relay.port, b'X-Padding: ' + b'a' * (MAX_REQUEST_BYTES + 10))
        with client:
            assert read_head(client).startswith(b'HTTP/1.1 400')
        assert upstream.requests == []
    finally:
        relay.stop()
        upstream.listener.close()
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', relay.port), timeout=2.0).recv(1)
