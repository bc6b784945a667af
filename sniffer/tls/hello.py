"""Handshake messages sent in the clear: ClientHello and ServerHello (RFC 8446 4.1.2-4.1.3, RFC 5246 7.4).

parse_handshakes() walks the handshake messages of one record's payload and returns, for the tree,
(field abbrev, value, offset, length, depth) items relative to the payload, and for the connection
the facts it needs: randoms, the chosen suite and version, SNI, ALPN, encrypt-then-MAC.
Everything is bounds-checked: a short or lying length ends the walk with a reason, never an exception.
"""

from __future__ import annotations

from typing import Any

from sniffer.fields import bytes_label
from sniffer.tls.names import EXTENSIONS, GREASE, GROUPS, HRR_RANDOM
from sniffer.tls.suites import SUITE_NAMES

# (abbrev, value, offset in the record payload, length, depth[, the item's text]); abbrev "" = a text label,
# whose text is the sixth member
Item = tuple

EXT_SNI, EXT_STATUS_REQUEST, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS, EXT_SIGNATURE_ALGORITHMS = 0, 5, 10, 11, 13
EXT_ALPN, EXT_PADDING, EXT_ETM, EXT_RECORD_SIZE_LIMIT, EXT_SESSION_TICKET = 16, 21, 22, 28, 35
EXT_SUPPORTED_VERSIONS, EXT_PSK_MODES, EXT_SIGNATURE_ALGORITHMS_CERT, EXT_KEY_SHARE = 43, 45, 50, 51
EXT_COMPRESS_CERTIFICATE, EXT_PRE_SHARED_KEY, EXT_COOKIE, EXT_RENEGOTIATION_INFO = 27, 41, 44, 65281
# extensions Wireshark decodes that may be empty (it then shows nothing under Type and Length)
_KNOWN_EMPTY = frozenset({0, 18, 22, 23, 42, 49})
_VERIFY_SIG = ("tls.handshake.client_cert_vrfy.sig_len", "tls.handshake.client_cert_vrfy.sig")
_HRR = "Handshake Protocol: Hello Retry Request"
_SUITES_LENGTH = "tls.handshake.cipher_suites_length"


def message_name(it: Item) -> str | None:
    """The name a "tls.handshake" item carries itself (a ServerHello that is a HelloRetryRequest), if any."""
    return it[5][len("Handshake Protocol: ") :] if len(it) > 5 else None


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
        if htype == 2 and data[pos + 6 : pos + 38] == HRR_RANDOM:  # a ServerHello that is a HelloRetryRequest
            items.append(("tls.handshake", htype, pos, min(4 + hlen, end - pos), 0, _HRR))
        else:
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
            elif htype == 4 and hlen:
                _session_ticket(data, pos + 4, body_end, tls13, items)
            elif htype == 8:
                k = _u(data, pos + 4, 2, body_end)
                items.append(("tls.handshake.extensions_length", k, pos + 4, 2, 1))
                _extensions(data, pos + 6, min(pos + 6 + k, body_end), False, items, {}, [], [])
            elif htype == 12 or htype == 16:
                _key_exchange(data, pos + 4, body_end, htype == 12, items, facts)
            elif htype == 13:
                _certificate_request(data, pos + 4, body_end, tls13, items)
            elif htype == 15:
                _signature(data, pos + 4, body_end, items, 1, *_VERIFY_SIG)
            elif htype == 20:
                items.append(("tls.handshake.verify_data", None, pos + 4, hlen, 1))
        except Short:
            return items, f"handshake message type {htype} shorter than its fields say"
        pos = body_end
    return items, None


def _hello(data: bytes, pos: int, end: int, client: bool, items: list[Item], facts: dict[str, Any]) -> None:
    """A ClientHello's or ServerHello's fields and extensions as Wireshark lays them out, and the facts."""
    version = _u(data, pos, 2, end)
    items.append(("tls.handshake.version", version, pos, 2, 1))
    _u(data, pos + 2, 32, end)
    random = data[pos + 2 : pos + 34]
    if random == HRR_RANDOM:
        items.append(
            ("tls.handshake.random", random, pos + 2, 32, 1, f"Random: {random.hex()} (HelloRetryRequest magic)")
        )
    else:
        items.append(("tls.handshake.random", random, pos + 2, 32, 1))
    tls13_server = not client and _chosen_version(data, pos, end) == 0x0304
    if not tls13_server:  # TLS 1.3's ServerHello random has no time in it, and Wireshark knows it there
        stamp = int.from_bytes(random[:4], "big")
        items.append(("tls.handshake.random_time", stamp, pos + 2, 4, 2, f"GMT Unix Time: {_utc(stamp)}"))
        items.append(("tls.handshake.random_bytes", random[4:], pos + 6, 28, 2))
    pos += 34
    pos = _opaque8(data, pos, end, "tls.handshake.session_id", items)
    suites: list[int] = []
    if client:
        facts["client_random"] = random
        start, n = _listed(data, pos, end, 2, "tls.handshake.ciphersuites", items, _SUITES_LENGTH, 1)
        items[-1] += (f"Cipher Suites ({_count(n // 2, 'suite')})",)
        for i in range(start, start + n - 1, 2):
            suite = _u(data, i, 2, end)
            suites.append(suite)
            items.append(("tls.handshake.ciphersuite", suite, i, 2, 2))
        facts["offered"] = suites
        start, n = _listed(data, start + n, end, 1, "tls.handshake.comp_methods", items, "", 1)
        items[-1] += (f"Compression Methods ({_count(n, 'method')})",)
        for i in range(start, start + n):
            items.append(("tls.handshake.comp_method", data[i], i, 1, 2))
        pos = start + n
    else:
        facts["server_random"] = random
        suite = _u(data, pos, 2, end)
        suites.append(suite)
        items.append(("tls.handshake.ciphersuite", suite, pos, 2, 1))
        items.append(("tls.handshake.comp_method", _u(data, pos + 2, 1, end), pos + 2, 1, 1))
        facts["suite"] = suite
        facts["version"] = version
        pos += 3
    types: list[int] = []
    groups: list[int] = []
    formats: list[int] = []
    etm = False
    if pos + 2 <= end:  # (TLS 1.0-1.2 allow a hello without extensions)
        total = _u(data, pos, 2, end)
        items.append(("tls.handshake.extensions_length", total, pos, 2, 1))
        types, etm = _extensions(data, pos + 2, min(pos + 2 + total, end), client, items, facts, groups, formats)
    facts["etm_client" if client else "etm_server"] = etm
    _fingerprint(items, client, version, suites, types, groups, formats)


def _extensions(
    data: bytes, pos: int, ext_end: int, client: bool, items: list[Item], facts: dict[str, Any], groups: list[int],
    formats: list[int],
) -> tuple[list[int], bool]:  # fmt: skip
    """The extensions between pos and ext_end, each as "Extension: name (len=N)" with its Type, Length and
    body; (their types in order, whether encrypt_then_mac is among them)."""
    types: list[int] = []
    etm = False
    while pos + 4 <= ext_end:
        etype, elen = _u(data, pos, 2, ext_end), _u(data, pos + 2, 2, ext_end)
        types.append(etype)
        name = EXTENSIONS.get(etype)
        if name == "Unknown":
            name = f"Unknown type {etype}"
        span = min(4 + elen, ext_end - pos)
        items.append(("", None, pos, span, 1, f"Extension: {name} (len={elen})"))
        items.append(("tls.handshake.extension.type", etype, pos, 2, 2))
        items.append(("tls.handshake.extension.len", elen, pos + 2, 2, 2))
        body, bend = pos + 4, pos + 4 + elen
        if bend > ext_end:
            raise Short
        if etype == EXT_ETM:
            etm = True
        _extension(data, etype, body, bend, client, items, facts, groups, formats)
        pos = bend
    return types, etm


def _chosen_version(data: bytes, pos: int, end: int) -> int:
    """The version a ServerHello's supported_versions extension chose (0 if none): read ahead, as the
    random's layout depends on it."""
    try:
        p = pos + 34
        p += 1 + _u(data, p, 1, end) + 3
        ext_end = min(p + 2 + _u(data, p, 2, end), end)
        p += 2
        while p + 4 <= ext_end:
            etype, elen = _u(data, p, 2, end), _u(data, p + 2, 2, end)
            if etype == EXT_SUPPORTED_VERSIONS and elen >= 2:
                return _u(data, p + 4, 2, end)
            p += 4 + elen
    except Short:
        pass
    return 0


def _extension(
    data: bytes, etype: int, body: int, bend: int, client: bool, items: list[Item], facts: dict[str, Any],
    groups: list[int], formats: list[int],
) -> None:  # fmt: skip
    """One extension's body under its Type and Length (depth 2), as Wireshark decodes the ones a device's TLS
    stack sends; any other shows its bytes as Data."""
    size = bend - body
    if etype == EXT_SNI and client and size >= 2:
        items.append(("", None, body, size, 2, "Server Name Indication extension"))
        items.append(("tls.handshake.extensions_server_name_list_len", _u(data, body, 2, bend), body, 2, 3))
        p = body + 2
        while p + 3 <= bend:
            n = _u(data, p + 1, 2, bend)
            items.append(("tls.handshake.extensions_server_name_type", data[p], p, 1, 3))
            items.append(("tls.handshake.extensions_server_name_len", n, p + 1, 2, 3))
            name = data[p + 3 : p + 3 + n].decode("utf-8", "replace")
            _u(data, p + 3, n, bend)
            facts.setdefault("sni", name)
            items.append(("tls.handshake.extensions_server_name", name, p + 3, n, 3))
            p += 3 + n
    elif etype == EXT_STATUS_REQUEST and client and size >= 5:
        items.append(("tls.handshake.extensions_status_request_type", data[body], body, 1, 2))
        ids = _u(data, body + 1, 2, bend)
        items.append(("tls.handshake.extensions_status_request_responder_ids_len", ids, body + 1, 2, 2))
        p = body + 3 + ids
        items.append(("tls.handshake.extensions_status_request_exts_len", _u(data, p, 2, bend), p, 2, 2))
    elif etype == EXT_SUPPORTED_GROUPS and size >= 2:
        start, n = _listed(data, body, bend, 2, "tls.handshake.extensions_supported_groups", items)
        items[-1] += (f"Supported Groups ({_count(n // 2, 'group')})",)
        for i in range(start, start + n - 1, 2):
            g = _u(data, i, 2, bend)
            groups.append(g)
            items.append(("tls.handshake.extensions_supported_group", g, i, 2, 3))
    elif etype == EXT_EC_POINT_FORMATS and size >= 1:
        start, n = _listed(data, body, bend, 1, "tls.handshake.extensions_ec_point_formats", items)
        items[-1] += (f"Elliptic curves point formats ({n})",)
        for i in range(start, start + n):
            formats.append(data[i])
            items.append(("tls.handshake.extensions_ec_point_format", data[i], i, 1, 3))
    elif etype in (EXT_SIGNATURE_ALGORITHMS, EXT_SIGNATURE_ALGORITHMS_CERT) and size >= 2:
        _signature_algorithms(data, body, bend, items, 2)
    elif etype == EXT_ALPN and size >= 2:
        items.append(("tls.handshake.extensions_alpn_len", _u(data, body, 2, bend), body, 2, 2))
        items.append(("tls.handshake.extensions_alpn_list", None, body + 2, size - 2, 2))
        p = body + 2
        protos = []
        while p < bend:
            n = data[p]
            _u(data, p + 1, n, bend)
            proto = data[p + 1 : p + 1 + n].decode("utf-8", "replace")
            protos.append(proto)
            items.append(("tls.handshake.extensions_alpn_str_len", n, p, 1, 3))
            items.append(("tls.handshake.extensions_alpn_str", proto, p + 1, n, 3))
            p += 1 + n
        facts["alpn" if client else "alpn_chosen"] = protos
    elif etype == EXT_PADDING and size:
        items.append(("tls.handshake.extensions_padding_data", data[body:bend], body, size, 2))
    elif etype == EXT_RECORD_SIZE_LIMIT and size == 2:
        items.append(("tls.record_size_limit", _u(data, body, 2, bend), body, 2, 2))
    elif etype == EXT_SESSION_TICKET:
        items.append(("tls.handshake.extension.data", data[body:bend], body, size, 2, f"Data ({size} bytes)"))
    elif etype == EXT_COOKIE and size >= 2:
        n = _u(data, body, 2, bend)
        items.append(("tls.handshake.extensions.cookie_len", n, body, 2, 2))
        _u(data, body + 2, n, bend)
        items.append(("tls.handshake.extensions.cookie", data[body + 2 : body + 2 + n], body + 2, n, 2))
    elif etype == EXT_COMPRESS_CERTIFICATE and size >= 1:
        n = data[body]
        items.append(("tls.compress_certificate.algorithms_length", n, body, 1, 2))
        for i in range(body + 1, min(body + 1 + n, bend) - 1, 2):
            items.append(("tls.compress_certificate.algorithm", _u(data, i, 2, bend), i, 2, 2))
    elif etype == EXT_PRE_SHARED_KEY and not client and size == 2:
        items.append(("tls.handshake.extensions.psk.identity.selected", _u(data, body, 2, bend), body, 2, 2))
    elif etype == EXT_PRE_SHARED_KEY and client and size >= 2:
        items.append(("", None, body, size, 2, "Pre-Shared Key extension"))
        n = _u(data, body, 2, bend)
        items.append(("tls.handshake.extensions.psk.identities.length", n, body, 2, 3))
        p, ids_end = body + 2, min(body + 2 + n, bend)
        while p + 2 <= ids_end:
            k = _u(data, p, 2, ids_end)
            items.append(("", None, p, 2 + k + 4, 3, f"PSK Identity (length: {k})"))
            items.append(("tls.handshake.extensions.psk.identity.identity_length", k, p, 2, 4))
            _u(data, p + 2, k + 4, ids_end)
            items.append(("tls.handshake.extensions.psk.identity.identity", data[p + 2 : p + 2 + k], p + 2, k, 4))
            age = _u(data, p + 2 + k, 4, ids_end)
            items.append(("tls.handshake.extensions.psk.identity.obfuscated_ticket_age", age, p + 2 + k, 4, 4))
            p += 2 + k + 4
        p = ids_end
        n = _u(data, p, 2, bend)
        items.append(("tls.handshake.extensions.psk.binders_len", n, p, 2, 3))
        items.append(("tls.handshake.extensions.psk.binders", None, p + 2, min(n, bend - p - 2), 3))
    elif etype == EXT_SUPPORTED_VERSIONS and size >= 1:
        if client:
            n = data[body]
            items.append(("tls.handshake.extensions.supported_versions_len", n, body, 1, 2))
            for i in range(body + 1, min(body + 1 + n, bend) - 1, 2):
                items.append(("tls.handshake.extensions.supported_version", _u(data, i, 2, bend), i, 2, 2))
        elif size >= 2:
            v = _u(data, body, 2, bend)
            items.append(("tls.handshake.extensions.supported_version", v, body, 2, 2))
            facts["version"] = v
    elif etype == EXT_PSK_MODES and size >= 1:
        n = data[body]
        items.append(("tls.extension.psk_ke_modes_length", n, body, 1, 2))
        for i in range(body + 1, min(body + 1 + n, bend)):
            items.append(("tls.extension.psk_ke_mode", data[i], i, 1, 2))
    elif etype == EXT_KEY_SHARE and size >= 2:
        items.append(("", None, body, size, 2, "Key Share extension"))
        if not client and size == 2:  # a HelloRetryRequest names the group it wants
            items.append(("tls.handshake.extensions_key_share_selected_group", _u(data, body, 2, bend), body, 2, 3))
            return
        p = body
        if client:
            items.append(("tls.handshake.extensions_key_share_client_length", _u(data, body, 2, bend), body, 2, 3))
            p += 2
        while p + 4 <= bend:
            g, n = _u(data, p, 2, bend), _u(data, p + 2, 2, bend)
            _u(data, p + 4, n, bend)
            text = f"Key Share Entry: Group: {GROUPS.get(g)}, Key Exchange length: {n}"
            items.append(("", None, p, 4 + n, 3, text))
            items.append(("tls.handshake.extensions_key_share_group", g, p, 2, 4))
            items.append(("tls.handshake.extensions_key_share_key_exchange_length", n, p + 2, 2, 4))
            items.append(("tls.handshake.extensions_key_share_key_exchange", data[p + 4 : p + 4 + n], p + 4, n, 4))
            p += 4 + n
    elif etype == EXT_RENEGOTIATION_INFO and size >= 1:
        items.append(("", None, body, size, 2, "Renegotiation Info extension"))
        n = data[body]
        items.append(("tls.handshake.extensions_reneg_info_len", n, body, 1, 3))
        if n:
            _u(data, body + 1, n, bend)
            items.append(("tls.handshake.extensions_reneg_info", data[body + 1 : body + 1 + n], body + 1, n, 3))
    elif size or etype not in _KNOWN_EMPTY:  # (an empty one Wireshark does not know is "Data: <MISSING>")
        items.append(("tls.handshake.extension.data", data[body:bend], body, size, 2))


def _signature_algorithms(data: bytes, pos: int, end: int, items: list[Item], depth: int) -> int:
    """A list of signature schemes, each with TLS 1.2's hash and signature under it; where the list ends."""
    start, n = _listed(data, pos, end, 2, "tls.handshake.sig_hash_algs", items, "tls.handshake.sig_hash_alg_len", depth)
    items[-1] += (f"Signature Hash Algorithms ({_count(n // 2, 'algorithm')})",)
    for i in range(start, start + n - 1, 2):
        items.append(("tls.handshake.sig_hash_alg", _u(data, i, 2, end), i, 2, depth + 1))
        items.append(("tls.handshake.sig_hash_hash", data[i], i, 1, depth + 2))
        items.append(("tls.handshake.sig_hash_sig", data[i + 1], i + 1, 1, depth + 2))
    return start + n


def _certificate_request(data: bytes, pos: int, end: int, tls13: bool, items: list[Item]) -> None:
    """What a server asks of a client certificate (mutual TLS, as AWS IoT and most device fleets use): TLS 1.2's
    certificate types, signature schemes and accepted CAs (RFC 5246 7.4.4); TLS 1.3's context and extensions."""
    if tls13:
        pos = _opaque8(data, pos, end, "tls.handshake.certificate_request_context", items)
        k = _u(data, pos, 2, end)
        items.append(("tls.handshake.extensions_length", k, pos, 2, 1))
        _extensions(data, pos + 2, min(pos + 2 + k, end), False, items, {}, [], [])
        return
    start, n = _listed(data, pos, end, 1, "tls.handshake.cert_types", items, "tls.handshake.cert_types_count", 1)
    items[-1] += (f"Certificate types ({_count(n, 'type')})",)
    for i in range(start, start + n):
        items.append(("tls.handshake.cert_type", data[i], i, 1, 2))
    pos = _signature_algorithms(data, start + n, end, items, 1)
    total = _u(data, pos, 2, end)
    items.append(("tls.handshake.dnames_len", total, pos, 2, 1))
    if not total:
        return
    pos += 2
    names_end = min(pos + total, end)
    items.append(("tls.handshake.dnames", None, pos, names_end - pos, 1, f"Distinguished Names ({total} bytes)"))
    while pos + 2 <= names_end:
        k = _u(data, pos, 2, names_end)
        _u(data, pos + 2, k, names_end)
        items.append(("tls.handshake.dname_len", k, pos, 2, 2))
        name = x509_name(data[pos + 2 : pos + 2 + k])
        items.append(("tls.handshake.dname", None, pos + 2, k, 2, f"Distinguished Name: ({name})"))
        pos += 2 + k


def _opaque8(data: bytes, pos: int, end: int, field: str, items: list[Item]) -> int:
    """A one-byte length (`<field>_length`) and the bytes it counts (`field`, shown only if any); where the
    next field starts."""
    n = _u(data, pos, 1, end)
    items.append((f"{field}_length", n, pos, 1, 1))
    if n:
        _u(data, pos + 1, n, end)
        items.append((field, data[pos + 1 : pos + 1 + n], pos + 1, n, 1))
    return pos + 1 + n


def _listed(
    data: bytes, body: int, bend: int, width: int, list_field: str, items: list[Item], length_field: str = "",
    depth: int = 2,
) -> tuple[int, int]:  # fmt: skip
    """A list's length (`width` bytes; field `<list_field>_length` unless named) and its label item (whose text
    the caller appends), at `depth`: (where the list starts, its length in bytes)."""
    n = _u(data, body, width, bend)
    items.append((length_field or f"{list_field}_length", n, body, width, depth))
    _u(data, body + width, n, bend)
    items.append((list_field, None, body + width, n, depth))
    return body + width, n


def _fingerprint(
    items: list[Item], client: bool, version: int, suites: list[int], types: list[int], groups: list[int],
    formats: list[int],
) -> None:  # fmt: skip
    """JA3 (a ClientHello) or JA3S (a ServerHello): the hello's numbers without GREASE values, and their MD5,
    which Wireshark shows at the end of a hello (generated items)."""
    import hashlib

    def dashed(values: list[int]) -> str:
        return "-".join(str(v) for v in values if v not in GREASE)

    if client:
        full = f"{version},{dashed(suites)},{dashed(types)},{dashed(groups)},{dashed(formats)}"
        name = "ja3"
    else:
        full = f"{version},{dashed(suites)},{dashed(types)}"
        name = "ja3s"
    label = name.upper()
    digest = hashlib.md5(full.encode(), usedforsecurity=False).hexdigest()
    items.append((f"tls.handshake.{name}_full", full, 0, 0, 1, f"[{label} Fullstring: {full}]"))
    items.append((f"tls.handshake.{name}", digest, 0, 0, 1, f"[{label}: {digest}]"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _utc(stamp: int) -> str:
    """Epoch seconds as Wireshark writes a UTC time: "May  8, 2041 04:57:16.000000000 UTC"."""
    import time

    t = time.gmtime(stamp)
    return f"{time.strftime('%b', t)} {t.tm_mday:2d}, {t.tm_year} {time.strftime('%H:%M:%S', t)}.000000000 UTC"


def _certificate(data: bytes, pos: int, end: int, tls13: bool, items: list[Item]) -> None:
    """A Certificate message's chain, each certificate labelled with its subject as Wireshark's x509 modules
    name it; the first one (the peer's own) also gets mqttsniff's Certificate Subject ("CN=…") under it.
    The certificates' ASN.1 is not decoded further."""
    if tls13:
        pos = _opaque8(data, pos, end, "tls.handshake.certificate_request_context", items)
    total = _u(data, pos, 3, end)
    items.append(("tls.handshake.certificates_length", total, pos, 3, 1))
    pos += 3
    chain_end = min(pos + total, end)
    items.append(("tls.handshake.certificates", None, pos, chain_end - pos, 1, f"Certificates ({total} bytes)"))
    first = True
    while pos + 3 <= chain_end:
        n = _u(data, pos, 3, chain_end)
        items.append(("tls.handshake.certificate_length", n, pos, 3, 2))
        _u(data, pos + 3, n, chain_end)
        der = data[pos + 3 : pos + 3 + n]
        names = x509_subject(der, tshark_names=True)
        text = f"Certificate: {bytes_label(der)}" + (f" ({names})" if names else "")
        items.append(("tls.handshake.certificate", der, pos + 3, n, 2, text))
        subject = x509_subject(der) if first else None
        if subject is not None:
            items.append(("tls.handshake.certificate.subject", subject, pos + 3, n, 3))
        first = False
        pos += 3 + n
        if tls13:
            k = _u(data, pos, 2, chain_end)
            items.append(("tls.handshake.extensions_length", k, pos, 2, 2))
            pos += 2 + k


def _key_exchange(data: bytes, pos: int, end: int, server: bool, items: list[Item], facts: dict[str, Any]) -> None:
    """TLS 1.2's ServerKeyExchange / ClientKeyExchange as Wireshark shows them, by the suite's key exchange:
    ECDHE (named curve), DHE, RSA (the client's encrypted pre-master secret); others are left as their header."""
    suite = SUITE_NAMES.get(facts.get("suite", -1), "")
    if "_ECDHE_" in suite:
        side = "server" if server else "client"
        if server:
            if _u(data, pos, 1, end) != 3:
                return  # not a named curve
            items.append(("", None, pos, end - pos, 1, "EC Diffie-Hellman Server Params"))
            items.append(("tls.handshake.server_curve_type", 3, pos, 1, 2))
            items.append(("tls.handshake.server_named_curve", _u(data, pos + 1, 2, end), pos + 1, 2, 2))
            pos += 3
        else:
            items.append(("", None, pos, end - pos, 1, "EC Diffie-Hellman Client Params"))
        pos = _opaque(data, pos, end, 1, f"tls.handshake.{side}_point", items, 2)
    elif "_DHE_" in suite:
        items.append(("", None, pos, end - pos, 1, f"Diffie-Hellman {'Server' if server else 'Client'} Params"))
        if server:
            pos = _opaque(data, pos, end, 2, "tls.handshake.p", items, 2)
            pos = _opaque(data, pos, end, 2, "tls.handshake.g", items, 2)
        pos = _opaque(data, pos, end, 2, "tls.handshake.ys" if server else "tls.handshake.yc", items, 2)
    elif suite.startswith("TLS_RSA_WITH_") and not server:
        items.append(("", None, pos, end - pos, 1, "RSA Encrypted PreMaster Secret"))
        _opaque(data, pos, end, 2, "tls.handshake.epms", items, 2)
        return
    else:
        return
    if server and pos + 4 <= end:
        _signature(data, pos, end, items, 2, "tls.handshake.sig_len", "tls.handshake.sig")


def _opaque(data: bytes, pos: int, end: int, width: int, field: str, items: list[Item], depth: int) -> int:
    """A length of `width` bytes (field `<field>_len`) and the bytes it counts (`field`); where they end."""
    n = _u(data, pos, width, end)
    items.append((f"{field}_len", n, pos, width, depth))
    _u(data, pos + width, n, end)
    items.append((field, data[pos + width : pos + width + n], pos + width, n, depth))
    return pos + width + n


def _signature(data: bytes, pos: int, end: int, items: list[Item], depth: int, length: str, value: str) -> None:
    """A signature scheme (with TLS 1.2's hash and signature under it), the signature's length and bytes."""
    items.append(("tls.handshake.sig_hash_alg", _u(data, pos, 2, end), pos, 2, depth))
    items.append(("tls.handshake.sig_hash_hash", data[pos], pos, 1, depth + 1))
    items.append(("tls.handshake.sig_hash_sig", data[pos + 1], pos + 1, 1, depth + 1))
    n = _u(data, pos + 2, 2, end)
    items.append((length, n, pos + 2, 2, depth))
    _u(data, pos + 4, n, end)
    items.append((value, data[pos + 4 : pos + 4 + n], pos + 4, n, depth))


def _session_ticket(data: bytes, pos: int, end: int, tls13: bool, items: list[Item]) -> None:
    """A NewSessionTicket (RFC 5077 3.3; RFC 8446 4.6.1 adds the age, the nonce and extensions)."""
    items.append(("", None, pos, end - pos, 1, "TLS Session Ticket"))
    hint = _u(data, pos, 4, end)
    text = f"Session Ticket Lifetime Hint: {hint} seconds" + (f" ({_duration(hint)})" if hint else "")
    items.append(("tls.handshake.session_ticket_lifetime_hint", hint, pos, 4, 2, text))
    pos += 4
    if tls13:
        items.append(("tls.handshake.session_ticket_age_add", _u(data, pos, 4, end), pos, 4, 2))
        n = _u(data, pos + 4, 1, end)
        items.append(("tls.handshake.session_ticket_nonce_length", n, pos + 4, 1, 2))
        _u(data, pos + 5, n, end)
        items.append(("tls.handshake.session_ticket_nonce", data[pos + 5 : pos + 5 + n], pos + 5, n, 2))
        pos += 5 + n
    n = _u(data, pos, 2, end)
    items.append(("tls.handshake.session_ticket_length", n, pos, 2, 2))
    _u(data, pos + 2, n, end)
    items.append(("tls.handshake.session_ticket", data[pos + 2 : pos + 2 + n], pos + 2, n, 2))
    pos += 2 + n
    if tls13:
        items.append(("tls.handshake.extensions_length", _u(data, pos, 2, end), pos, 2, 2))


def _duration(seconds: int) -> str:
    """Wireshark's words for a count of seconds: "2 hours", "1 day, 3 hours, 20 minutes"."""
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        k, seconds = divmod(seconds, size)
        if k:
            parts.append(f"{k} {unit}" + ("s" if k != 1 else ""))
    return ", ".join(parts)


# RFC 4514's short names of the attributes a device certificate names itself with
_ATTRS = {b"\x55\x04\x03": "CN", b"\x55\x04\x06": "C", b"\x55\x04\x07": "L", b"\x55\x04\x08": "ST",
          b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU", b"\x55\x04\x05": "serialNumber",
          b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01": "emailAddress"}  # fmt: skip


_LONG_ATTRS = {b"\x55\x04\x03": "id-at-commonName", b"\x55\x04\x06": "id-at-countryName",
               b"\x55\x04\x07": "id-at-localityName", b"\x55\x04\x08": "id-at-stateOrProvinceName",
               b"\x55\x04\x0a": "id-at-organizationName", b"\x55\x04\x0b": "id-at-organizationalUnitName",
               b"\x55\x04\x05": "id-at-serialNumber",
               b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01": "pkcs-9-at-emailAddress"}  # fmt: skip


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


def x509_name(der: bytes) -> str | None:
    """A DER Name (a CertificateRequest's accepted CA) as Wireshark labels it: "id-at-commonName=…", None if
    unreadable."""
    try:
        _t, pos, end = _tlv(der, 0, len(der))
        return _name(der, pos, end, True)
    except Short:
        return None


def _name(der: bytes, pos: int, end: int, tshark_names: bool) -> str:
    """The attributes of the RDNSequence between pos and end, as "CN=a,O=b" in the order they are encoded (as
    OpenSSL prints a subject), or Wireshark's long names, last RDN first, as it labels a certificate."""
    rdns: list[list[str]] = []
    while pos < end:
        _t, rpos, rend = _tlv(der, pos, end)  # RelativeDistinguishedName (a SET)
        pos = rend
        parts: list[str] = []
        rdns.append(parts)
        while rpos < rend:
            _t, apos, aend = _tlv(der, rpos, rend)  # AttributeTypeAndValue
            rpos = aend
            _otag, opos, oend = _tlv(der, apos, aend)
            vtag, vpos, vend = _tlv(der, oend, aend)
            oid = der[opos:oend]
            name = (_LONG_ATTRS if tshark_names else _ATTRS).get(oid) or ".".join(str(b) for b in oid)
            raw = der[vpos:vend]
            value = raw.decode("utf-16-be", "replace") if vtag == 0x1E else raw.decode("utf-8", "replace")
            parts.append(f"{name}={value}")
    return ",".join(a for parts in (reversed(rdns) if tshark_names else rdns) for a in parts)


def x509_subject(der: bytes, tshark_names: bool = False) -> str | None:
    """The subject of a DER X.509 certificate as "CN=...,O=..." (RFC 5280 4.1; attributes in their order), None
    if unreadable; `tshark_names`: as Wireshark's x509 modules label it ("id-at-commonName=..."). Only walks the
    structure down to the subject Name: no signature is checked, nothing is trusted."""
    try:
        _t, pos, end = _tlv(der, 0, len(der))  # Certificate
        _t, pos, end = _tlv(der, pos, end)  # tbsCertificate
        fields: list[tuple[int, int, int]] = []
        while pos < end and len(fields) < 6:
            tag, vpos, vend = _tlv(der, pos, end)
            fields.append((tag, vpos, vend))
            pos = vend
        if fields and fields[0][0] == 0xA0:
            fields = fields[1:]  # [0] version
        if len(fields) < 5 or fields[4][0] != 0x30:
            return None
        _tag, pos, end = fields[4]  # serial, signature, issuer, validity, subject
        return _name(der, pos, end, tshark_names)
    except Short:
        return None
