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


def parse_handshakes(data: bytes, facts: dict[str, Any]) -> tuple[list[Item], str | None]:
    """Items of every handshake message in `data` (one record's payload) and an error, if any."""
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
