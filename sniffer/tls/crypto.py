"""Key schedules and record decryption, with the `cryptography` package (imported with this module).

TLS 1.2 (RFC 5246 5, 6.3): the master secret from the key log, PRF(master, "key expansion",
server_random + client_random) -> the key block, cut into MAC keys, write keys and IVs.
TLS 1.3 (RFC 8446 7.1, 7.3, 5.3): each traffic secret from the key log gives key and IV by
HKDF-Expand-Label; the nonce of record N is the IV XOR N.
The ciphers themselves (AES-GCM, AES-CCM, ChaCha20-Poly1305, AES-CBC) and HKDF are the library's;
the PRF and the CBC MAC use the standard library's HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sniffer.tls.suites import Suite

_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384}
_CRYPTO_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}
_MAC_LEN = {"sha1": 20, "sha256": 32, "sha384": 48}


class DecryptError(Exception):
    """A record that does not decrypt (authentication failed, bad padding, too short)."""


def prf12(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """TLS 1.2's PRF: P_hash(secret, label + seed) (RFC 5246 5)."""
    h = _HASHES[hash_name]
    seed = label + seed
    out = b""
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, h).digest()
        out += hmac.new(secret, a + seed, h).digest()
    return out[:length]


def hkdf_expand_label(secret: bytes, label: str, length: int, hash_name: str) -> bytes:
    """HKDF-Expand-Label(secret, label, "", length) (RFC 8446 7.1)."""
    full = b"tls13 " + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(_CRYPTO_HASHES[hash_name](), length, info).derive(secret)


def next_traffic_secret(secret: bytes, hash_name: str) -> bytes:
    """application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 7.2)."""
    return hkdf_expand_label(secret, "traffic upd", len(secret), hash_name)


class RecordCipher:
    """Decrypts the records of one direction under one key; counts the sequence number."""

    def __init__(self, suite: Suite, key: bytes, iv: bytes, mac_key: bytes, tls13: bool, etm: bool = False) -> None:
        self.suite = suite
        self.tls13 = tls13
        self.iv = iv
        self.iv_int = int.from_bytes(iv, "big")
        self.mac_key = mac_key
        self.etm = etm  # RFC 7366 encrypt-then-MAC (CBC suites only)
        self.seq = 0
        c = suite.cipher
        self.tag_len = 8 if c == "ccm8" else 16
        self.aead: AESGCM | AESCCM | ChaCha20Poly1305 | None = None
        self.key = key
        if c == "gcm":
            self.aead = AESGCM(key)
        elif c in ("ccm", "ccm8"):
            self.aead = AESCCM(key, self.tag_len)
        elif c == "chacha":
            self.aead = ChaCha20Poly1305(key)

    def _xor_nonce(self) -> bytes:
        return (self.iv_int ^ self.seq).to_bytes(12, "big")

    def decrypt(self, ctype: int, version: int, payload: bytes) -> bytes:
        """The plaintext of one record (TLS 1.3: still with its inner type and padding).
        Raises DecryptError; the sequence number advances either way (the record was sent)."""
        seq = self.seq
        try:
            if self.tls13:
                header = struct.pack("!BHH", ctype, version, len(payload))
                assert self.aead is not None
                return self.aead.decrypt(self._xor_nonce(), payload, header)
            if self.aead is not None:
                return self._decrypt12_aead(ctype, version, payload, seq)
            return self._decrypt12_cbc(ctype, version, payload, seq)
        except InvalidTag:
            raise DecryptError("authentication failed (wrong key, or the record was altered)") from None
        except ValueError as e:  # a nonce or ciphertext of a size the cipher refuses
            raise DecryptError(f"cannot decrypt: {e}") from None
        finally:
            self.seq = seq + 1

    def _decrypt12_aead(self, ctype: int, version: int, payload: bytes, seq: int) -> bytes:
        assert self.aead is not None
        if self.suite.cipher == "chacha":  # RFC 7905: no explicit nonce
            nonce, body = self._xor_nonce(), payload
        else:  # RFC 5288: 4-byte salt from the key block + 8-byte explicit nonce in the record
            if len(payload) < 8 + self.tag_len:
                raise DecryptError(f"record too short for its cipher ({len(payload)} bytes)")
            nonce, body = self.iv + payload[:8], payload[8:]
        if len(body) < self.tag_len:
            raise DecryptError(f"record too short for its cipher ({len(payload)} bytes)")
        aad = struct.pack("!QBHH", seq, ctype, version, len(body) - self.tag_len)
        return self.aead.decrypt(nonce, body, aad)

    def _decrypt12_cbc(self, ctype: int, version: int, payload: bytes, seq: int) -> bytes:
        mac_name = self.suite.mac
        mac_len = _MAC_LEN[mac_name]
        h = _HASHES[mac_name]
        if self.etm:
            if len(payload) < 16 + 16 + mac_len:
                raise DecryptError(f"record too short for its cipher ({len(payload)} bytes)")
            body, mac = payload[:-mac_len], payload[-mac_len:]
            want = hmac.new(self.mac_key, struct.pack("!QBHH", seq, ctype, version, len(body)) + body, h).digest()
            if not hmac.compare_digest(mac, want):
                raise DecryptError("authentication failed (wrong key, or the record was altered)")
            plain = self._cbc(body)
            return _unpad(plain)
        if len(payload) < 32 or len(payload) % 16:
            raise DecryptError(f"record length {len(payload)} is not a whole number of AES blocks")
        plain = _unpad(self._cbc(payload))
        if len(plain) < mac_len:
            raise DecryptError("authentication failed (wrong key, or the record was altered)")
        content, mac = plain[:-mac_len], plain[-mac_len:]
        want = hmac.new(self.mac_key, struct.pack("!QBHH", seq, ctype, version, len(content)) + content, h).digest()
        if not hmac.compare_digest(mac, want):
            raise DecryptError("authentication failed (wrong key, or the record was altered)")
        return content

    def _cbc(self, body: bytes) -> bytes:
        if len(body) < 32 or len(body) % 16:
            raise DecryptError(f"record length {len(body)} is not a whole number of AES blocks")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()  # TLS 1.1+: explicit IV
        return dec.update(body[16:]) + dec.finalize()


def _unpad(plain: bytes) -> bytes:
    pad = plain[-1]
    if pad + 1 > len(plain) or any(b != pad for b in plain[-pad - 1 :]):
        raise DecryptError("authentication failed (bad CBC padding: wrong key, or the record was altered)")
    return plain[: -pad - 1]


def tls12_ciphers(
    suite: Suite, master: bytes, client_random: bytes, server_random: bytes, etm: bool
) -> tuple[RecordCipher, RecordCipher]:
    """(client's, server's) record ciphers of a TLS 1.2 session from its master secret."""
    mac_len = _MAC_LEN[suite.mac] if suite.mac else 0
    iv_len = suite.iv_len
    total = 2 * (mac_len + suite.key_len + iv_len)
    block = prf12(master, b"key expansion", server_random + client_random, total, suite.hash)
    pos = 0
    parts = []
    for n in (mac_len, mac_len, suite.key_len, suite.key_len, iv_len, iv_len):
        parts.append(block[pos : pos + n])
        pos += n
    cmac, smac, ckey, skey, civ, siv = parts
    return (
        RecordCipher(suite, ckey, civ, cmac, False, etm),
        RecordCipher(suite, skey, siv, smac, False, etm),
    )


def tls13_cipher(suite: Suite, secret: bytes) -> RecordCipher:
    """The record cipher of one TLS 1.3 traffic secret."""
    key = hkdf_expand_label(secret, "key", suite.key_len, suite.hash)
    iv = hkdf_expand_label(secret, "iv", 12, suite.hash)
    return RecordCipher(suite, key, iv, b"", True)
