"""Names of the values a TLS hello carries (IANA's TLS registries), as the detail tree shows them.

A value a table lacks reads "Unknown", as in Wireshark ("Supported Group: Unknown (0x1234)"): the tables
hand out that name themselves (`Named.get`), so FieldDef.display needs no special case.
"""

from __future__ import annotations

from typing import Any

GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))  # RFC 8701: 0x0a0a, 0x1a1a, … 0xfafa


class Named(dict):
    """A value table whose misses are named "Unknown"."""

    def get(self, key: Any, default: Any = None) -> Any:  # noqa: ARG002 (the table answers every value)
        return dict.get(self, key, "Unknown")


def with_grease(table: dict[int, str]) -> Named:
    """A copy of `table` that also names RFC 8701's GREASE values, and "Unknown" the rest."""
    return Named({**table, **{g: "Reserved (GREASE)" for g in GREASE}})


EXTENSIONS = with_grease({
    0: "server_name", 1: "max_fragment_length", 2: "client_certificate_url", 3: "trusted_ca_keys",
    4: "truncated_hmac", 5: "status_request", 6: "user_mapping", 7: "client_authz", 8: "server_authz",
    9: "cert_type", 10: "supported_groups", 11: "ec_point_formats", 12: "srp", 13: "signature_algorithms",
    14: "use_srtp", 15: "heartbeat", 16: "application_layer_protocol_negotiation", 17: "status_request_v2",
    18: "signed_certificate_timestamp", 19: "client_certificate_type", 20: "server_certificate_type",
    21: "padding", 22: "encrypt_then_mac", 23: "extended_master_secret", 24: "token_binding", 25: "cached_info",
    27: "compress_certificate", 28: "record_size_limit", 34: "delegated_credentials", 35: "session_ticket",
    40: "Reserved (key_share)", 41: "pre_shared_key", 42: "early_data", 43: "supported_versions", 44: "cookie",
    45: "psk_key_exchange_modes", 46: "Reserved (ticket_early_data_info)", 47: "certificate_authorities",
    48: "oid_filters", 49: "post_handshake_auth", 50: "signature_algorithms_cert", 51: "key_share",
    52: "transparency_info", 53: "connection_id (deprecated)", 54: "connection_id", 55: "external_id_hash",
    56: "external_session_id", 57: "quic_transport_parameters", 58: "ticket_request", 59: "dnssec_chain",
    13172: "next_protocol_negotiation", 17513: "application_settings", 30031: "channel_id_old",
    30032: "channel_id", 65281: "renegotiation_info", 65445: "quic_transport_parameters (drafts version)",
    65486: "encrypted_server_name",
})  # fmt: skip

_CURVES = [
    "sect163k1", "sect163r1", "sect163r2", "sect193r1", "sect193r2", "sect233k1", "sect233r1", "sect239k1",
    "sect283k1", "sect283r1", "sect409k1", "sect409r1", "sect571k1", "sect571r1", "secp160k1", "secp160r1",
    "secp160r2", "secp192k1", "secp192r1", "secp224k1", "secp224r1", "secp256k1", "secp256r1", "secp384r1",
    "secp521r1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1", "x25519", "x448",
]  # fmt: skip
GROUPS = with_grease({
    **{i + 1: name for i, name in enumerate(_CURVES)},
    0x29: "curveSM2", 0x100: "ffdhe2048", 0x101: "ffdhe3072", 0x102: "ffdhe4096", 0x103: "ffdhe6144",
    0x104: "ffdhe8192", 0xFF01: "arbitrary_explicit_prime_curves", 0xFF02: "arbitrary_explicit_char2_curves",
})  # fmt: skip


class _Schemes(Named):
    """TLS 1.3's signature schemes; a pair it does not name reads as TLS 1.2's hash and signature
    ("SHA224 ECDSA" for 0x0303), as Wireshark names it."""

    def get(self, key: Any, default: Any = None) -> Any:  # noqa: ARG002
        name = dict.get(self, key)
        if name is None and isinstance(key, int):
            h, s = SIG_HASHES.get(key >> 8), SIG_ALGORITHMS.get(key & 0xFF)
            name = f"{h} {s}"
        return name


SIGNATURE_SCHEMES = _Schemes({
    0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0401: "rsa_pkcs1_sha256", 0x0403: "ecdsa_secp256r1_sha256",
    0x0501: "rsa_pkcs1_sha384", 0x0503: "ecdsa_secp384r1_sha384", 0x0601: "rsa_pkcs1_sha512",
    0x0603: "ecdsa_secp521r1_sha512", 0x0708: "sm2sig_sm3", 0x0804: "rsa_pss_rsae_sha256",
    0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512", 0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
})  # fmt: skip
# TLS 1.2's reading of a scheme's two bytes (RFC 5246 7.4.1.4.1), which Wireshark shows under every scheme
SIG_HASHES = Named({0: "None", 1: "MD5", 2: "SHA1", 3: "SHA224", 4: "SHA256", 5: "SHA384", 6: "SHA512", 7: "SM3"})
SIG_ALGORITHMS = Named({0: "Anonymous", 1: "RSA", 2: "DSA", 3: "ECDSA", 4: "SM2"})

EC_POINT_FORMATS = Named({0: "uncompressed", 1: "ansiX962_compressed_prime", 2: "ansiX962_compressed_char2"})
COMPRESSION = Named({0: "null", 1: "DEFLATE", 64: "LZS"})
PSK_MODES = Named({0: "PSK-only key establishment (psk_ke)", 1: "PSK with (EC)DHE key establishment (psk_dhe_ke)"})
SERVER_NAME_TYPES = Named({0: "host_name"})
STATUS_TYPES = Named({1: "OCSP", 2: "OCSP Multi"})
CERT_COMPRESSION = Named({1: "zlib", 2: "brotli", 3: "zstd"})
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")  # RFC 8446 4.1.3
# TLS 1.2's ClientCertificateType (RFC 5246 7.4.4, RFC 8422 5.5)
CERT_TYPES = Named({
    1: "RSA Sign", 2: "DSS Sign", 3: "RSA Fixed DH", 4: "DSS Fixed DH", 21: "GOST R 34.10-94",
    22: "GOST R 34.10-2001", 64: "ECDSA Sign", 65: "RSA Fixed ECDH", 66: "ECDSA Fixed ECDH", 80: "IBC Params",
})  # fmt: skip
