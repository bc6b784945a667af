"""Every tls.* field mqttsniff shows, registered once (names, types and bases are Wireshark 4.0's)."""

from __future__ import annotations

from sniffer.fields import FT, Base, register
from sniffer.tls.suites import SUITE_NAMES

U, S, BY, N = FT.UINT, FT.STRING, FT.BYTES, FT.NONE
DEC, HEX = Base.DEC, Base.HEX

CONTENT_TYPES = {20: "Change Cipher Spec", 21: "Alert", 22: "Handshake", 23: "Application Data", 24: "Heartbeat"}
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
HANDSHAKE_TYPES = {
    0: "Hello Request",
    1: "Client Hello",
    2: "Server Hello",
    4: "New Session Ticket",
    5: "End of Early Data",
    8: "Encrypted Extensions",
    11: "Certificate",
    12: "Server Key Exchange",
    13: "Certificate Request",
    14: "Server Hello Done",
    15: "Certificate Verify",
    16: "Client Key Exchange",
    20: "Finished",
    24: "Key Update",
}
ALERT_LEVELS = {1: "Warning", 2: "Fatal"}
ALERT_DESCS = {0: "Close Notify", 10: "Unexpected Message", 20: "Bad Record MAC", 40: "Handshake Failure",
               42: "Bad Certificate", 46: "Certificate Unknown", 48: "Unknown CA", 50: "Decode Error",
               51: "Decrypt Error", 70: "Protocol Version", 80: "Internal Error", 90: "User Canceled",
               109: "Missing Extension", 112: "Unrecognized Name", 116: "Certificate Required",
               120: "No Application Protocol"}  # fmt: skip

PROTO = register("tls", "Transport Layer Security", FT.PROTOCOL, Base.NONE)
RECORD = register("tls.record", "Record Layer", N, Base.NONE)
CONTENT_TYPE = register("tls.record.content_type", "Content Type", U, DEC, values=CONTENT_TYPES)
OPAQUE_TYPE = register("tls.record.opaque_type", "Opaque Type", U, DEC, values=CONTENT_TYPES)
VERSION = register("tls.record.version", "Version", U, HEX, size=2, values=VERSIONS)
LENGTH = register("tls.record.length", "Length", U, DEC, size=2)
APP_DATA = register("tls.app_data", "Encrypted Application Data", BY)
APP_DATA_PROTO = register("tls.app_data_proto", "Application Data Protocol", S)
# an MQTT PDU across records, as TLS's desegmentation shows it
SEGMENT_DATA = register("tls.segment.data", "TLS segment data", BY)
SEGMENTS = register("tls.segments", "Reassembled TLS segments", N, Base.NONE)
SEGMENT = register("tls.segment", "TLS segment", U, DEC, size=4)
SEGMENT_COUNT = register("tls.segment.count", "Segment count", U, DEC, size=4)
REASSEMBLED_LENGTH = register("tls.reassembled.length", "Reassembled PDU length", U, DEC, size=4)
REASSEMBLED_DATA = register("tls.reassembled.data", "Reassembled PDU data", BY)
CCS = register("tls.change_cipher_spec", "Change Cipher Spec Message", N, Base.NONE)
ALERT = register("tls.alert_message", "Alert Message", N, Base.NONE)
ALERT_LEVEL = register("tls.alert_message.level", "Level", U, DEC, values=ALERT_LEVELS)
ALERT_DESC = register("tls.alert_message.desc", "Description", U, DEC, values=ALERT_DESCS)
HANDSHAKE = register("tls.handshake", "Handshake Protocol", N, Base.NONE)
HS_TYPE = register("tls.handshake.type", "Handshake Type", U, DEC, values=HANDSHAKE_TYPES)
HS_LENGTH = register("tls.handshake.length", "Length", U, DEC, size=3)
HS_VERSION = register("tls.handshake.version", "Version", U, HEX, size=2, values=VERSIONS)
HS_RANDOM = register("tls.handshake.random", "Random", BY)
SESSION_ID_LENGTH = register("tls.handshake.session_id_length", "Session ID Length", U, DEC)
CIPHERSUITE = register("tls.handshake.ciphersuite", "Cipher Suite", U, HEX, size=2, values=SUITE_NAMES)
EXT_TYPE = register("tls.handshake.extension.type", "Type", U, DEC, size=2)
SNI = register("tls.handshake.extensions_server_name", "Server Name", S)
ALPN = register("tls.handshake.extensions_alpn_str", "ALPN Next Protocol", S)
# mqttsniff's own (Wireshark shows the certificate through its x509 dissectors): the first certificate's subject
CERT_SUBJECT = register(
    "tls.handshake.certificate.subject", "Certificate Subject", S, blurb="subject of the peer's own certificate"
)
SUPPORTED_VERSION = register(
    "tls.handshake.extensions.supported_version", "Supported Version", U, HEX, size=2, values=VERSIONS
)
