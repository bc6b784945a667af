"""Handshake messages sent in the clear: ClientHello and ServerHello (RFC 8446 4.1.2-4.1.3, RFC 5246 7.4).

parse_handshakes() walks the handshake messages of one record's payload and returns, for the tree,
(field abbrev, value, offset, length, depth) items relative to the payload, and for the connection
the facts it needs: randoms, the chosen suite and version, SNI, ALPN, encrypt-then-MAC.
Everything is bounds-checked: a short or lying length ends the walk with a reason, never an exception.
"""

from __future__ import annotations

from typing import Any

# (abbrev, value, offset in the record payload, length, depth); abbrev "" = a text label (value is the text)
Item = tuple[str, Any, int, int, int]

EXT_SNI, EXT_ALPN, EXT_ETM, EXT_SUPPORTED_VERSIONS = 0, 16, 22, 43


class Short(Exception):
    pass


def _u(data: bytes, pos: int, n: int, end: int) -> int:
    if pos + n > end:
        raise Short
    return int.from_bytes(data[pos : pos + n], "big")


def parse_handshakes(data: bytes, facts: dict[str, Any], tls13: bool = False) -> tuple[list[Item], str | None]:
    """Items of every handshake message in `data` (one record's payload) and an error, if any.
    `tls13`: the messages are TLS 1.3's (a Certificate has a request context and per-entry extensions)."""
    items: list[Item] = []
    pos, end = 0, len(data)
    while pos + 4 <= end:
        htype = data[pos]
        hlen = int.from_bytes(data[pos + 1 : pos + 4], "big")
        items.append(("tls.handshake", htype, pos, min(4 + hlen, end - pos), 0))
        items.append(("tls.handshake.type", htype, pos, 1, 1))
        items.append(("tls.handshake.length", hlen, pos + 1, 3, 1))
        body_end = pos + 4 + hlen
        if body_end > end:
            return items, None  # continues in the next record (a long certificate chain): shown as far as here
        try:
            if htype == 1:
                _hello(data, pos + 4, body_end, True, items, facts)
            elif htype == 2:
                _hello(data, pos + 4, body_end, False, items, facts)
            elif htype == 11:
                _certificate(data, pos + 4, body_end, tls13, items)
        except Short:
            return items, f"handshake message type {htype} shorter than its fields say"
        pos = body_end
    return items, None


def _hello(data: bytes, pos: int, end: int, client: bool, items: list[Item], facts: dict[str, Any]) -> None:
    items.append(("tls.handshake.version", _u(data, pos, 2, end), pos, 2, 1))
    version = _u(data, pos, 2, end)
    _u(data, pos + 2, 32, end)
    random = data[pos + 2 : pos + 34]
    items.append(("tls.handshake.random", random, pos + 2, 32, 1))
    pos += 34
    sid_len = _u(data, pos, 1, end)
    items.append(("tls.handshake.session_id_length", sid_len, pos, 1, 1))
    pos += 1 + sid_len
    if client:
        facts["client_random"] = random
        n = _u(data, pos, 2, end)
        pos += 2
        offered = []
        for i in range(pos, pos + n - 1, 2):
            suite = _u(data, i, 2, end)
            offered.append(suite)
            items.append(("tls.handshake.ciphersuite", suite, i, 2, 1))
        facts["offered"] = offered
        pos += n
        n = _u(data, pos, 1, end)
        pos += 1 + n
    else:
        facts["server_random"] = random
        suite = _u(data, pos, 2, end)
        items.append(("tls.handshake.ciphersuite", suite, pos, 2, 1))
        facts["suite"] = suite
        facts["version"] = version
        pos += 3  # suite, compression method
    if pos + 2 > end:
        return  # no extensions (TLS 1.0-1.2 allow that)
    ext_end = min(pos + 2 + _u(data, pos, 2, end), end)
    pos += 2
    etm = False
    while pos + 4 <= ext_end:
        etype, elen = _u(data, pos, 2, end), _u(data, pos + 2, 2, end)
        items.append(("tls.handshake.extension.type", etype, pos, 2, 1))
        body, bend = pos + 4, min(pos + 4 + elen, ext_end)
        if etype == EXT_SNI and client and bend - body >= 5:
            n = _u(data, body + 3, 2, bend)
            name = data[body + 5 : body + 5 + n].decode("utf-8", "replace")
            facts["sni"] = name
            items.append(("tls.handshake.extensions_server_name", name, body + 5, n, 2))
        elif etype == EXT_ALPN and bend - body >= 2:
            p = body + 2
            protos = []
            while p < bend:
                n = data[p]
                proto = data[p + 1 : p + 1 + n].decode("utf-8", "replace")
                protos.append(proto)
                items.append(("tls.handshake.extensions_alpn_str", proto, p + 1, n, 2))
                p += 1 + n
            facts["alpn" if client else "alpn_chosen"] = protos
        elif etype == EXT_SUPPORTED_VERSIONS:
            if client and bend > body:
                for i in range(body + 1, bend - 1, 2):
                    items.append(("tls.handshake.extensions.supported_version", _u(data, i, 2, bend), i, 2, 2))
            elif not client and bend - body >= 2:
                v = _u(data, body, 2, bend)
                items.append(("tls.handshake.extensions.supported_version", v, body, 2, 2))
                facts["version"] = v
        elif etype == EXT_ETM:
            etm = True
        pos = body + elen
    facts["etm_client" if client else "etm_server"] = etm


def _certificate(data: bytes, pos: int, end: int, tls13: bool, items: list[Item]) -> None:
    """The subject of the first (the peer's own) certificate of a Certificate message."""
    if tls13:
        pos += 1 + _u(data, pos, 1, end)  # certificate_request_context
    pos += 3  # certificate_list length
    n = _u(data, pos, 3, end)
    if n == 0 or pos + 3 + n > end:
        return
    subject = x509_subject(data[pos + 3 : pos + 3 + n])
    if subject is not None:
        items.append(("tls.handshake.certificate.subject", subject, pos + 3, n, 1))


# RFC 4514's short names of the attributes a device certificate names itself with
_ATTRS = {b"\x55\x04\x03": "CN", b"\x55\x04\x06": "C", b"\x55\x04\x07": "L", b"\x55\x04\x08": "ST",
          b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU", b"\x55\x04\x05": "serialNumber",
          b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01": "emailAddress"}  # fmt: skip


def _tlv(der: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at pos."""
    if pos + 2 > end:
        raise Short
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first & 0x80:
        k = first & 0x7F
        if k == 0 or k > 4 or pos + k > end:
            raise Short
        length = int.from_bytes(der[pos : pos + k], "big")
        pos += k
    else:
        length = first
    if pos + length > end:
        raise Short
    return tag, pos, pos + length


def x509_subject(der: bytes) -> str | None:
    """The subject of a DER X.509 certificate as "CN=..., O=..." (RFC 5280 4.1), None if unreadable.
    Only walks the structure down to the subject Name: no signature is checked, nothing is trusted."""
    try:
        _t, pos, end = _tlv(der, 0, len(der))  # Certificate
        _t, pos, end = _tlv(der, pos, end)  # tbsCertificate
        fields = []
        while pos < end and len(fields) < 6:
            tag, vpos, vend = _tlv(der, pos, end)
            fields.append((tag, vpos, vend))
            pos = vend
        if fields and fields[0][0] == 0xA0:
            fields = fields[1:]  # [0] version
        if len(fields) < 5 or fields[4][0] != 0x30:
            return None
        _tag, pos, end = fields[4]  # serial, signature, issuer, validity, subject
        parts = []
        while pos < end:
            _t, rpos, rend = _tlv(der, pos, end)  # RelativeDistinguishedName (a SET)
            pos = rend
            while rpos < rend:
                _t, apos, aend = _tlv(der, rpos, rend)  # AttributeTypeAndValue
                rpos = aend
                otag, opos, oend = _tlv(der, apos, aend)
                vtag, vpos, vend = _tlv(der, oend, aend)
                oid = der[opos:oend]
                name = _ATTRS.get(oid) or ".".join(str(b) for b in oid)
                raw = der[vpos:vend]
                value = raw.decode("utf-16-be", "replace") if vtag == 0x1E else raw.decode("utf-8", "replace")
                parts.append(f"{name}={value}")
        return ",".join(parts)
    except Short:
        return None
