"""Every tls.* field mqttsniff shows, registered once (names, types and bases are Wireshark 4.0's)."""

from __future__ import annotations

from sniffer.fields import FT, Base, register
from sniffer.tls import names as V
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
CIPHERSUITE = register("tls.handshake.ciphersuite", "Cipher Suite", U, HEX, size=2, values=V.with_grease(SUITE_NAMES))
RANDOM_TIME = register("tls.handshake.random_time", "GMT Unix Time", FT.ABSTIME)
RANDOM_BYTES = register("tls.handshake.random_bytes", "Random Bytes", BY)
SESSION_ID = register("tls.handshake.session_id", "Session ID", BY)
SUITES_LENGTH = register("tls.handshake.cipher_suites_length", "Cipher Suites Length", U, DEC, size=2)
SUITES = register("tls.handshake.ciphersuites", "Cipher Suites", N, Base.NONE)
COMP_LENGTH = register("tls.handshake.comp_methods_length", "Compression Methods Length", U, DEC)
COMP_METHODS = register("tls.handshake.comp_methods", "Compression Methods", N, Base.NONE)
COMP_METHOD = register("tls.handshake.comp_method", "Compression Method", U, DEC, values=V.COMPRESSION)
EXTS_LENGTH = register("tls.handshake.extensions_length", "Extensions Length", U, DEC, size=2)
EXT_TYPE = register("tls.handshake.extension.type", "Type", U, DEC, size=2, values=V.EXTENSIONS)
EXT_LEN = register("tls.handshake.extension.len", "Length", U, DEC, size=2)
EXT_DATA = register("tls.handshake.extension.data", "Data", BY)
SNI_LIST_LEN = register("tls.handshake.extensions_server_name_list_len", "Server Name list length", U, DEC, size=2)
SNI_TYPE = register("tls.handshake.extensions_server_name_type", "Server Name Type", U, DEC, values=V.SERVER_NAME_TYPES)
SNI_LEN = register("tls.handshake.extensions_server_name_len", "Server Name length", U, DEC, size=2)
STATUS_TYPE = register(
    "tls.handshake.extensions_status_request_type", "Certificate Status Type", U, DEC, values=V.STATUS_TYPES
)
STATUS_IDS_LEN = register(
    "tls.handshake.extensions_status_request_responder_ids_len", "Responder ID list Length", U, DEC, size=2
)
STATUS_EXTS_LEN = register(
    "tls.handshake.extensions_status_request_exts_len", "Request Extensions Length", U, DEC, size=2
)
GROUPS_LEN = register(
    "tls.handshake.extensions_supported_groups_length", "Supported Groups List Length", U, DEC, size=2
)
GROUPS = register("tls.handshake.extensions_supported_groups", "Supported Groups List", N, Base.NONE)
GROUP = register("tls.handshake.extensions_supported_group", "Supported Group", U, HEX, size=2, values=V.GROUPS)
POINT_FORMATS_LEN = register("tls.handshake.extensions_ec_point_formats_length", "EC point formats Length", U, DEC)
POINT_FORMATS = register("tls.handshake.extensions_ec_point_formats", "EC point formats", N, Base.NONE)
POINT_FORMAT = register(
    "tls.handshake.extensions_ec_point_format", "EC point format", U, DEC, values=V.EC_POINT_FORMATS
)
SIG_ALGS_LEN = register("tls.handshake.sig_hash_alg_len", "Signature Hash Algorithms Length", U, DEC, size=2)
SIG_ALGS = register("tls.handshake.sig_hash_algs", "Signature Algorithms", N, Base.NONE)
SIG_ALG = register("tls.handshake.sig_hash_alg", "Signature Algorithm", U, HEX, size=2, values=V.SIGNATURE_SCHEMES)
SIG_HASH = register("tls.handshake.sig_hash_hash", "Signature Hash Algorithm Hash", U, DEC, values=V.SIG_HASHES)
SIG_SIG = register("tls.handshake.sig_hash_sig", "Signature Hash Algorithm Signature", U, DEC, values=V.SIG_ALGORITHMS)
ALPN_LEN = register("tls.handshake.extensions_alpn_len", "ALPN Extension Length", U, DEC, size=2)
ALPN_LIST = register("tls.handshake.extensions_alpn_list", "ALPN Protocol", N, Base.NONE)
ALPN_STR_LEN = register("tls.handshake.extensions_alpn_str_len", "ALPN string length", U, DEC)
PADDING = register("tls.handshake.extensions_padding_data", "Padding Data", BY)
RECORD_SIZE_LIMIT = register("tls.record_size_limit", "Record Size Limit", U, DEC, size=2)
VERSIONS_LEN = register("tls.handshake.extensions.supported_versions_len", "Supported Versions length", U, DEC)
PSK_MODES_LEN = register("tls.extension.psk_ke_modes_length", "PSK Key Exchange Modes Length", U, DEC)
PSK_MODE = register("tls.extension.psk_ke_mode", "PSK Key Exchange Mode", U, DEC, values=V.PSK_MODES)
KEY_SHARE_LEN = register("tls.handshake.extensions_key_share_client_length", "Client Key Share Length", U, DEC, size=2)
KEY_SHARE_GROUP = register("tls.handshake.extensions_key_share_group", "Group", U, DEC, size=2, values=V.GROUPS)
KEY_EXCHANGE_LEN = register(
    "tls.handshake.extensions_key_share_key_exchange_length", "Key Exchange Length", U, DEC, size=2
)
KEY_EXCHANGE = register("tls.handshake.extensions_key_share_key_exchange", "Key Exchange", BY)
SELECTED_GROUP = register(
    "tls.handshake.extensions_key_share_selected_group", "Selected Group", U, DEC, size=2, values=V.GROUPS
)
COOKIE_LEN = register("tls.handshake.extensions.cookie_len", "Cookie length", U, DEC, size=2)
COOKIE = register("tls.handshake.extensions.cookie", "Cookie", BY)
CERT_COMP_LEN = register("tls.compress_certificate.algorithms_length", "Algorithms Length", U, DEC)
CERT_COMP = register("tls.compress_certificate.algorithm", "Algorithm", U, DEC, size=2, values=V.CERT_COMPRESSION)
PSK_IDS_LEN = register("tls.handshake.extensions.psk.identities.length", "Identities Length", U, DEC, size=2)
PSK_ID_LEN = register("tls.handshake.extensions.psk.identity.identity_length", "Identity Length", U, DEC, size=2)
PSK_ID = register("tls.handshake.extensions.psk.identity.identity", "Identity", BY)
PSK_AGE = register(
    "tls.handshake.extensions.psk.identity.obfuscated_ticket_age", "Obfuscated Ticket Age", U, DEC, size=4
)
PSK_BINDERS_LEN = register("tls.handshake.extensions.psk.binders_len", "PSK Binders length", U, DEC, size=2)
PSK_BINDERS = register("tls.handshake.extensions.psk.binders", "PSK Binders", N, Base.NONE)
PSK_SELECTED = register("tls.handshake.extensions.psk.identity.selected", "Selected Identity", U, DEC, size=2)
RENEG_LEN = register("tls.handshake.extensions_reneg_info_len", "Renegotiation info extension length", U, DEC)
RENEG_INFO = register("tls.handshake.extensions_reneg_info", "Renegotiation info", BY)
CERT_CONTEXT_LEN = register(
    "tls.handshake.certificate_request_context_length", "Certificate Request Context Length", U, DEC
)
CERT_CONTEXT = register("tls.handshake.certificate_request_context", "Certificate Request Context", BY)
CERTS_LENGTH = register("tls.handshake.certificates_length", "Certificates Length", U, DEC, size=3)
CERTS = register("tls.handshake.certificates", "Certificates", N, Base.NONE)
CERT_LENGTH = register("tls.handshake.certificate_length", "Certificate Length", U, DEC, size=3)
CERT = register("tls.handshake.certificate", "Certificate", BY)
CURVE_TYPE = register("tls.handshake.server_curve_type", "Curve Type", U, HEX, values={3: "named_curve"})
NAMED_CURVE = register("tls.handshake.server_named_curve", "Named Curve", U, HEX, size=2, values=V.GROUPS)
SERVER_POINT_LEN = register("tls.handshake.server_point_len", "Pubkey Length", U, DEC)
SERVER_POINT = register("tls.handshake.server_point", "Pubkey", BY)
CLIENT_POINT_LEN = register("tls.handshake.client_point_len", "Pubkey Length", U, DEC)
CLIENT_POINT = register("tls.handshake.client_point", "Pubkey", BY)
P_LEN = register("tls.handshake.p_len", "p Length", U, DEC, size=2)
P = register("tls.handshake.p", "p", BY)
G_LEN = register("tls.handshake.g_len", "g Length", U, DEC, size=2)
G = register("tls.handshake.g", "g", BY)
YS_LEN = register("tls.handshake.ys_len", "Pubkey Length", U, DEC, size=2)
YS = register("tls.handshake.ys", "Pubkey", BY)
YC_LEN = register("tls.handshake.yc_len", "Pubkey Length", U, DEC, size=2)
YC = register("tls.handshake.yc", "Pubkey", BY)
EPMS_LEN = register("tls.handshake.epms_len", "Encrypted PreMaster length", U, DEC, size=2)
EPMS = register("tls.handshake.epms", "Encrypted PreMaster", BY)
SIG_LEN = register("tls.handshake.sig_len", "Signature Length", U, DEC, size=2)
SIG = register("tls.handshake.sig", "Signature", BY)
VERIFY_SIG_LEN = register("tls.handshake.client_cert_vrfy.sig_len", "Signature length", U, DEC, size=2)
VERIFY_SIG = register("tls.handshake.client_cert_vrfy.sig", "Signature", BY)
TICKET_HINT = register("tls.handshake.session_ticket_lifetime_hint", "Session Ticket Lifetime Hint", U, DEC, size=4)
TICKET_AGE_ADD = register("tls.handshake.session_ticket_age_add", "Session Ticket Age Add", U, DEC, size=4)
TICKET_NONCE_LEN = register("tls.handshake.session_ticket_nonce_length", "Session Ticket Nonce Length", U, DEC)
TICKET_NONCE = register("tls.handshake.session_ticket_nonce", "Session Ticket Nonce", BY)
TICKET_LEN = register("tls.handshake.session_ticket_length", "Session Ticket Length", U, DEC, size=2)
TICKET = register("tls.handshake.session_ticket", "Session Ticket", BY)
VERIFY_DATA = register("tls.handshake.verify_data", "Verify Data", N, Base.NONE)
CERT_TYPES_COUNT = register("tls.handshake.cert_types_count", "Certificate types count", U, DEC)
CERT_TYPES = register("tls.handshake.cert_types", "Certificate types", N, Base.NONE)
CERT_TYPE = register("tls.handshake.cert_type", "Certificate type", U, DEC, values=V.CERT_TYPES)
DNAMES_LEN = register("tls.handshake.dnames_len", "Distinguished Names Length", U, DEC, size=2)
DNAMES = register("tls.handshake.dnames", "Distinguished Names", N, Base.NONE)
DNAME = register("tls.handshake.dname", "Distinguished Name", N, Base.NONE)
DNAME_LEN = register("tls.handshake.dname_len", "Distinguished Name Length", U, DEC, size=2)
JA3_FULL = register("tls.handshake.ja3_full", "JA3 Fullstring", S)
JA3 = register("tls.handshake.ja3", "JA3", S)
JA3S_FULL = register("tls.handshake.ja3s_full", "JA3S Fullstring", S)
JA3S = register("tls.handshake.ja3s", "JA3S", S)
SNI = register("tls.handshake.extensions_server_name", "Server Name", S)
ALPN = register("tls.handshake.extensions_alpn_str", "ALPN Next Protocol", S)
# mqttsniff's own (Wireshark shows the certificate through its x509 dissectors): the first certificate's subject
CERT_SUBJECT = register(
    "tls.handshake.certificate.subject", "Certificate Subject", S, blurb="subject of the peer's own certificate"
)
SUPPORTED_VERSION = register(
    "tls.handshake.extensions.supported_version", "Supported Version", U, HEX, size=2, values=V.with_grease(VERSIONS)
)
