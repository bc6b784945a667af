"""Every websocket.* and http.* field mqttsniff shows, registered once (names and types are Wireshark 4.0's)."""

from __future__ import annotations

from sniffer.fields import FT, Base, register

U, S, BY, N, B = FT.UINT, FT.STRING, FT.BYTES, FT.NONE, FT.BOOLEAN
DEC, HEX = Base.DEC, Base.HEX

OPCODES = {0: "Continuation", 1: "Text", 2: "Binary", 8: "Connection Close", 9: "Ping", 10: "Pong"}
# RFC 6455 7.4.1 and the IANA registry, as Wireshark names them
CLOSE_CODES = {1000: "Normal Closure", 1001: "Going Away", 1002: "Protocol error", 1003: "Unsupported Data",
               1005: "No Status Rcvd", 1006: "Abnormal Closure", 1007: "Invalid frame payload data",
               1008: "Policy Violation", 1009: "Message Too Big", 1010: "Mandatory Ext.",
               1011: "Internal Server", 1015: "TLS handshake"}  # fmt: skip

WS = register("websocket", "WebSocket", FT.PROTOCOL, Base.NONE)
FIN = register("websocket.fin", "Fin", B, mask=0x80)
RSV = register("websocket.rsv", "Reserved", U, HEX, mask=0x70)
PMC = register("websocket.pmc", "Per-Message Compressed", B, mask=0x40)
OPCODE = register("websocket.opcode", "Opcode", U, DEC, mask=0x0F, values=OPCODES)
MASK = register("websocket.mask", "Mask", B, mask=0x80)
PAYLOAD_LENGTH = register("websocket.payload_length", "Payload length", U, DEC, mask=0x7F)
PAYLOAD_LENGTH_16 = register("websocket.payload_length_ext_16", "Extended Payload length (16 bits)", U, DEC, size=2)
PAYLOAD_LENGTH_64 = register("websocket.payload_length_ext_64", "Extended Payload length (64 bits)", U, DEC, size=8)
MASKING_KEY = register("websocket.masking_key", "Masking-Key", BY)
PAYLOAD = register("websocket.payload", "Payload", N, Base.NONE)
MASKED_PAYLOAD = register("websocket.masked_payload", "Masked payload", N, Base.NONE)
CONTINUE = register("websocket.payload.continue", "Continue", BY)
TEXT = register("websocket.payload.text", "Text", S)
CLOSE = register("websocket.payload.close", "Close", N, Base.NONE)
CLOSE_CODE = register("websocket.payload.close.status_code", "Status code", U, DEC, size=2, values=CLOSE_CODES)
CLOSE_REASON = register("websocket.payload.close.reason", "Reason", S)
PING = register("websocket.payload.ping", "Ping", BY)
PONG = register("websocket.payload.pong", "Pong", BY)
UNKNOWN = register("websocket.payload.unknown", "Unknown", BY)

HTTP = register("http", "Hypertext Transfer Protocol", FT.PROTOCOL, Base.NONE)
REQUEST = register("http.request", "Request", B)
RESPONSE = register("http.response", "Response", B)
REQUEST_LINE = register("http.request.line", "Request line", S)
RESPONSE_LINE = register("http.response.line", "Response line", S)
METHOD = register("http.request.method", "Request Method", S)
URI = register("http.request.uri", "Request URI", S)
REQUEST_VERSION = register("http.request.version", "Request Version", S)
RESPONSE_VERSION = register("http.response.version", "Response Version", S)
CODE = register("http.response.code", "Status Code", U, DEC, size=2)
CODE_DESC = register("http.response.code.desc", "Status Code Description", S)
PHRASE = register("http.response.phrase", "Response Phrase", S)
# header name (lower case) -> its field, for the headers Wireshark gives a field of their own
HEADERS = {
    "host": register("http.host", "Host", S),
    "connection": register("http.connection", "Connection", S),
    "upgrade": register("http.upgrade", "Upgrade", S),
    "sec-websocket-key": register("http.sec_websocket_key", "Sec-WebSocket-Key", S),
    "sec-websocket-accept": register("http.sec_websocket_accept", "Sec-WebSocket-Accept", S),
    "sec-websocket-protocol": register("http.sec_websocket_protocol", "Sec-WebSocket-Protocol", S),
    "sec-websocket-version": register("http.sec_websocket_version", "Sec-WebSocket-Version", S),
    "sec-websocket-extensions": register("http.sec_websocket_extensions", "Sec-WebSocket-Extensions", S),
}
