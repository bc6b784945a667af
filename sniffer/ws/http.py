"""The HTTP side of MQTT over WebSocket: is a request an Upgrade offering an MQTT subprotocol, and the
start line and headers of an Upgrade request or answer (RFC 6455 4, RFC 9110). Header blocks are
decoded as latin-1, which never fails: what the wire holds is shown, escaped by the outputs."""

from __future__ import annotations

MAX_HEADER = 16 * 1024  # an Upgrade request or answer longer than this is not followed
MQTT_PROTOCOLS = frozenset({"mqtt", "mqttv3.1"})


def is_mqtt_upgrade(payload: bytes) -> bool:
    """A client's first segment: an HTTP Upgrade to WebSocket offering an MQTT subprotocol."""
    if payload[:4] != b"GET ":
        return False
    block = bytes(payload[:MAX_HEADER])
    end = block.find(b"\r\n\r\n")
    if end < 0:
        return False
    _line, headers = parse_header(block[: end + 4])
    return wants_mqtt(headers)


def parse_header(block: bytes) -> tuple[str, list[tuple[str, str, int, int]]]:
    """Start line and headers of an HTTP header block: (name lower-cased, value, offset, length of line)."""
    text = block.decode("latin-1")
    lines = text.split("\r\n")
    headers: list[tuple[str, str, int, int]] = []
    pos = len(lines[0]) + 2
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip().lower(), value.strip(), pos, len(line) + 2))
        pos += len(line) + 2
    return lines[0], headers


def status_code(line: str) -> int:
    """The status code of an HTTP response line, -1 if none (latin-1 '²' is a digit to isdigit(), not int())."""
    parts = line.split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    return int(code) if code.isascii() and code.isdigit() and len(code) <= 9 else -1


def header(headers: list[tuple[str, str, int, int]], name: str) -> str:
    """The first value of header `name` (lower case), "" if absent."""
    return next((v for n, v, _o, _l in headers if n == name), "")


def wants_mqtt(headers: list[tuple[str, str, int, int]]) -> bool:
    """An Upgrade to WebSocket whose Sec-WebSocket-Protocol list offers mqtt or mqttv3.1."""
    protocols = {p.strip().lower() for p in header(headers, "sec-websocket-protocol").split(",")}
    return "websocket" in header(headers, "upgrade").lower() and bool(protocols & MQTT_PROTOCOLS)
