"""A minimal Foxglove WebSocket client (protocol foxglove.sdk.v1), enough to test the bridge."""

import base64
import json
import os
import socket
import struct
import time
from typing import Dict, Optional, Tuple

SUBPROTOCOL = 'foxglove.sdk.v1'
OP_TEXT, OP_BINARY, OP_CLOSE = 0x1, 0x2, 0x8
SERVICE_CALL_REQUEST = 0x02
SERVICE_CALL_RESPONSE = 0x03


class FoxgloveClient:
    """Connects, reads the server's text and binary frames, subscribes and calls services."""

    def __init__(self, port: int, timeout_s: float = 20.0, subprotocol: str = SUBPROTOCOL):
        """
        Open the connection and do the WebSocket handshake.

        :param port: the server's port on 127.0.0.1.
        :param timeout_s: socket timeout.
        :param subprotocol: the subprotocol offered.
        """
        self.socket = socket.create_connection(('127.0.0.1', port), timeout=timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall((
            f'GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n'
            f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
            f'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n'
        ).encode())
        self._buffer = b''
        while b'\r\n\r\n' not in self._buffer:
            chunk = self.socket.recv(65536)
            if not chunk:
                break
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(b'\r\n\r\n')
        self.handshake = head.decode(errors='replace')
        self.channels: Dict[str, int] = {}
        self.services: Dict[str, int] = {}

    @property
    def upgraded(self) -> bool:
        """Return whether the server switched protocols."""
        return ' 101 ' in self.handshake.splitlines()[0]

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError('the server closed the connection')
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def receive(self) -> Tuple[int, bytes]:
        """
        Read one frame from the server (unmasked).

        :return: opcode and payload.
        """
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack('>H', self._read(2))
        elif length == 127:
            (length,) = struct.unpack('>Q', self._read(8))
        return first & 0x0F, self._read(length)

    def send(self, opcode: int, payload: bytes) -> None:
        """
        Send one masked frame, as clients must.

        :param opcode: OP_TEXT or OP_BINARY.
        :param payload: the frame's payload.
        """
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack('>BB', 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack('>BBH', 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack('>BBQ', 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.socket.sendall(header + mask + masked)

    def read_until(self, predicate, timeout_s: float = 20.0) -> Optional[dict]:
        """
        Read frames, noting advertised channels and services, until a text message matches.

        :param predicate: takes a decoded text message; True ends the wait.
        :param timeout_s: how long to read.
        :return: the matching message, or None when the time ran out.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            opcode, payload = self.receive()
            if opcode != OP_TEXT:
                continue
            message = json.loads(payload)
            if message.get('op') == 'advertise':
                self.channels.update({channel['topic']: channel['id']
                                      for channel in message['channels']})
            if message.get('op') == 'advertiseServices':
                self.services.update({service['name']: service['id']
                                      for service in message['services']})
            if predicate(message):
                return message
        return None

    def subscribe(self, topic: str) -> None:
        """
        Subscribe to an advertised channel.

        :param topic: its topic.
        """
        self.send(OP_TEXT, json.dumps({'op': 'subscribe', 'subscriptions': [
            {'id': 1, 'channelId': self.channels[topic]}]}).encode())

    def call(self, service: str, request: dict, call_id: int = 1,
             timeout_s: float = 30.0) -> Tuple[bool, dict]:
        """
        Call a service with a JSON request and wait for its answer.

        :param service: its name.
        :param request: the request's fields.
        :param call_id: the call's id.
        :param timeout_s: how long to wait.
        :return: (True, the JSON response) or (False, the serviceCallFailure message).
        """
        encoding = b'json'
        self.send(OP_BINARY, struct.pack('<BIII', SERVICE_CALL_REQUEST, self.services[service],
                                         call_id, len(encoding))
                  + encoding + json.dumps(request).encode())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            opcode, payload = self.receive()
            if opcode == OP_BINARY and payload[0] == SERVICE_CALL_RESPONSE:
                _, _, answered, length = struct.unpack('<BIII', payload[:13])
                if answered == call_id:
                    return True, json.loads(payload[13 + length:])
            if opcode == OP_TEXT:
                message = json.loads(payload)
                if message.get('op') == 'serviceCallFailure' and message['callId'] == call_id:
                    return False, message
        raise TimeoutError(f'no answer to the {service} call within {timeout_s:g} s')
