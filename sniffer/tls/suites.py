"""The cipher suites mqttsniff decrypts: IANA id -> how its records are protected.

Names are IANA's. Each entry says the bulk cipher (gcm, ccm, ccm8, chacha, cbc), its key length,
the fixed IV length of TLS 1.2's key block, the MAC hash of CBC suites and the PRF/HKDF hash.
"""

from __future__ import annotations


class Suite:
    """One suite's parameters (a plain class: a NamedTuple costs a millisecond at every start-up)."""

    __slots__ = ("name", "cipher", "key_len", "iv_len", "mac", "hash", "tls13")

    def __init__(self, name: str, cipher: str, key_len: int, iv_len: int, mac: str, hash: str) -> None:
        self.name = name
        self.cipher = cipher  # "gcm", "ccm", "ccm8", "chacha", "cbc"
        self.key_len = key_len
        self.iv_len = iv_len  # TLS 1.2 key block's write IV (the implicit nonce part); 12 for TLS 1.3
        self.mac = mac  # "" for AEAD, else "sha1" / "sha256" / "sha384"
        self.hash = hash  # "sha256" or "sha384": the PRF (1.2) or HKDF (1.3) hash
        # a TLS 1.3 suite (usable only there; the others only before 1.3)
        self.tls13 = name.startswith(("TLS_AES_", "TLS_CHACHA20_POLY1305_SHA256"))


def _s(name: str, cipher: str, key: int, mac: str = "") -> Suite:
    iv = {"gcm": 4, "ccm": 4, "ccm8": 4, "chacha": 12, "cbc": 16}[cipher]
    if name.startswith("TLS_AES") or name.startswith("TLS_CHACHA20"):
        iv = 12  # TLS 1.3: the per-direction IV is always 12 bytes
    return Suite(name, cipher, key, iv, mac, "sha384" if name.endswith("SHA384") else "sha256")


SUITES: dict[int, Suite] = {
    # TLS 1.3 (RFC 8446 B.4)
    0x1301: _s("TLS_AES_128_GCM_SHA256", "gcm", 16),
    0x1302: _s("TLS_AES_256_GCM_SHA384", "gcm", 32),
    0x1303: _s("TLS_CHACHA20_POLY1305_SHA256", "chacha", 32),
    0x1304: _s("TLS_AES_128_CCM_SHA256", "ccm", 16),
    0x1305: _s("TLS_AES_128_CCM_8_SHA256", "ccm8", 16),
    # TLS 1.2 AEAD (RFC 5288, 5289, 7905, 6655, 7251)
    0x009C: _s("TLS_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16),
    0x009D: _s("TLS_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32),
    0x009E: _s("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16),
    0x009F: _s("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32),
    0x00A8: _s("TLS_PSK_WITH_AES_128_GCM_SHA256", "gcm", 16),
    0x00A9: _s("TLS_PSK_WITH_AES_256_GCM_SHA384", "gcm", 32),
    0xC02B: _s("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "gcm", 16),
    0xC02C: _s("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "gcm", 32),
    0xC02F: _s("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "gcm", 16),
    0xC030: _s("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "gcm", 32),
    0xCCA8: _s("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32),
    0xCCA9: _s("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32),
    0xCCAA: _s("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32),
    0xCCAB: _s("TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", "chacha", 32),
    0xC09C: _s("TLS_RSA_WITH_AES_128_CCM", "ccm", 16),
    0xC09D: _s("TLS_RSA_WITH_AES_256_CCM", "ccm", 32),
    0xC0A0: _s("TLS_RSA_WITH_AES_128_CCM_8", "ccm8", 16),
    0xC0A1: _s("TLS_RSA_WITH_AES_256_CCM_8", "ccm8", 32),
    0xC0A4: _s("TLS_PSK_WITH_AES_128_CCM", "ccm", 16),
    0xC0A5: _s("TLS_PSK_WITH_AES_256_CCM", "ccm", 32),
    0xC0A8: _s("TLS_PSK_WITH_AES_128_CCM_8", "ccm8", 16),
    0xC0A9: _s("TLS_PSK_WITH_AES_256_CCM_8", "ccm8", 32),
    0xC0AC: _s("TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "ccm", 16),
    0xC0AD: _s("TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "ccm", 32),
    0xC0AE: _s("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "ccm8", 16),
    0xC0AF: _s("TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "ccm8", 32),
    # TLS 1.2 CBC with HMAC (RFC 5246, 5289): what older mbedTLS devices still negotiate
    0x002F: _s("TLS_RSA_WITH_AES_128_CBC_SHA", "cbc", 16, "sha1"),
    0x0035: _s("TLS_RSA_WITH_AES_256_CBC_SHA", "cbc", 32, "sha1"),
    0x003C: _s("TLS_RSA_WITH_AES_128_CBC_SHA256", "cbc", 16, "sha256"),
    0x003D: _s("TLS_RSA_WITH_AES_256_CBC_SHA256", "cbc", 32, "sha256"),
    0x0033: _s("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "cbc", 16, "sha1"),
    0x0039: _s("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "cbc", 32, "sha1"),
    0x0067: _s("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "cbc", 16, "sha256"),
    0x006B: _s("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "cbc", 32, "sha256"),
    0x008C: _s("TLS_PSK_WITH_AES_128_CBC_SHA", "cbc", 16, "sha1"),
    0x008D: _s("TLS_PSK_WITH_AES_256_CBC_SHA", "cbc", 32, "sha1"),
    0x00AE: _s("TLS_PSK_WITH_AES_128_CBC_SHA256", "cbc", 16, "sha256"),
    0xC009: _s("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "cbc", 16, "sha1"),
    0xC00A: _s("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "cbc", 32, "sha1"),
    0xC013: _s("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "cbc", 16, "sha1"),
    0xC014: _s("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "cbc", 32, "sha1"),
    0xC023: _s("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "cbc", 16, "sha256"),
    0xC024: _s("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "cbc", 32, "sha384"),
    0xC027: _s("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "cbc", 16, "sha256"),
    0xC028: _s("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "cbc", 32, "sha384"),
}

# value names for tls.handshake.ciphersuite (suites offered but not decryptable are named too)
SUITE_NAMES: dict[int, str] = {k: v.name for k, v in SUITES.items()}
SUITE_NAMES.update({0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV"})
