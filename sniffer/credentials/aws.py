"""AWS IoT Core connections: the endpoint a TLS ClientHello names (SNI), the authentication its port and ALPN
select, and a CONNECT's client id and user name parameters checked against AWS's documented rules.

Only documented facts are encoded (AWS IoT Core Developer Guide, "Device communication protocols",
"AWS IoT device data and service endpoints", "Custom authentication", and the message broker quotas):
- data endpoints are `<prefix>-ats.iot.<region>.amazonaws.com` (iot:Data-ATS) and the legacy VeriSign-signed
  `<prefix>.iot.<region>.amazonaws.com` (iot:Data, kept for backward compatibility; AWS strongly recommends
  ATS); the China regions end in `.amazonaws.com.cn`;
- the port/ALPN table: MQTT with an X.509 client certificate on 8883 (no ALPN) or on 443 with ALPN
  `x-amzn-mqtt-ca`; MQTT with custom authentication on 443 with ALPN `mqtt`; HTTPS with an X.509 client
  certificate on 8443 or on 443 with ALPN `x-amzn-http-ca`; on 443 without ALPN, HTTPS and MQTT over
  WebSocket (Signature Version 4 or custom authentication); custom authentication can't be used on 443 with
  ALPN x-amzn-mqtt-ca;
- custom authentication over MQTT: user name `username?x-amz-customauthorizer-name=…&x-amz-customauthorizer-
  signature=…&token-key-name=token-value`, the signature URL encoded; the password is passed to the authorizer
  (base64-encoded by AWS IoT Core);
- a client id is at most 128 bytes of UTF-8 and can't start with `$`;
- the AWS IoT Device SDKs append their metrics to the user name as query parameters after its last `?`
  (`SDK=…&Version=…&Platform=…&Metadata=(…)`).
The password is never shown: only whether there is one and its length.
"""

from __future__ import annotations

import re
from typing import Final

from sniffer.fields import FT, NOTE, WARN, Base, Node, item, note, register

S, U, N, NB = FT.STRING, FT.UINT, FT.NONE, Base.NONE

# the ClientHello's subtree: TLS fields (they sit in frames without MQTT; a filter on them needs no CONNECT)
HELLO: Final = register("tls.aws", "AWS IoT Core endpoint", N, NB)
H_TYPE: Final = register("tls.aws.endpoint_type", "Endpoint type", S, NB)
H_PREFIX: Final = register("tls.aws.prefix", "Account endpoint prefix", S, NB)
H_REGION: Final = register("tls.aws.region", "Region", S, NB)
H_AUTH: Final = register("tls.aws.auth", "Authentication", S, NB)

# the CONNECT's subtree, beside aliyun.* and azure.*
AWS: Final = register("aws", "AWS IoT Core credentials", FT.PROTOCOL, NB)
A_ENDPOINT: Final = register("aws.endpoint", "Endpoint (SNI)", S, NB)
A_TYPE: Final = register("aws.endpoint_type", "Endpoint type", S, NB)
A_REGION: Final = register("aws.region", "Region", S, NB)
A_ALPN: Final = register("aws.alpn", "ALPN offered", S, NB)
A_AUTH: Final = register("aws.auth", "Authentication", S, NB)
A_CLIENT: Final = register("aws.clientid", "Client ID", S, NB)
A_CLIENT_LEN: Final = register("aws.clientid_length", "Client ID length (bytes)", U, Base.DEC)
A_USER: Final = register("aws.username", "User name (before the query)", S, NB)
A_SDK: Final = register("aws.sdk", "SDK", S, NB)
A_SDK_VERSION: Final = register("aws.sdk.version", "SDK version", S, NB)
A_SDK_PLATFORM: Final = register("aws.sdk.platform", "SDK platform", S, NB)
A_SDK_METADATA: Final = register("aws.sdk.metadata", "SDK metadata", S, NB)
A_AUTHORIZER: Final = register("aws.authorizer.name", "Custom authorizer name", S, NB)
A_SIGNATURE: Final = register("aws.authorizer.signature", "Custom authorizer token signature", S, NB)
A_TOKEN_KEY: Final = register("aws.authorizer.token_key", "Custom authorizer token key", S, NB)
A_PASSWORD: Final = register("aws.password", "Password", S, NB)

_ENDPOINT: Final = re.compile(
    r"(?P<prefix>[a-z0-9]+)(?P<ats>-ats)?\.iot\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?P<cn>\.cn)?"
)
ATS, LEGACY = "iot:Data-ATS (Amazon Trust Services)", "iot:Data (legacy, VeriSign)"
MAX_CLIENT_ID: Final = 128  # bytes of UTF-8 (AWS IoT Core message broker quotas)
NAME, SIGNATURE = "x-amz-customauthorizer-name", "x-amz-customauthorizer-signature"
SDK_KEYS: Final = {"SDK": A_SDK, "Version": A_SDK_VERSION, "Platform": A_SDK_PLATFORM, "Metadata": A_SDK_METADATA}
MQTT_ALPN: Final = ("x-amzn-mqtt-ca", "mqtt")

# (SNI, ALPN protocols offered, server port, WebSocket inside): what a CONNECT is told of its connection
Hello = tuple[str, tuple[str, ...], int, bool]


def endpoint(sni: str) -> tuple[str, str, str] | None:
    """(endpoint type, account prefix, region) of an AWS IoT Core data endpoint name, else None."""
    m = _ENDPOINT.fullmatch(sni.lower().rstrip("."))  # (DNS names are case-insensitive)
    if m is None:
        return None
    return (ATS if m["ats"] else LEGACY), m["prefix"], m["region"]


def authentication(port: int, alpn: tuple[str, ...]) -> tuple[str, list[tuple[str, str]]]:
    """What AWS IoT Core's port/ALPN table makes of a connection, and notes on the documented mistakes."""
    notes: list[tuple[str, str]] = []
    offered = ", ".join(alpn) or "none"
    if port == 443:
        for proto in alpn:  # the client's order is its preference (RFC 7301)
            if proto == "x-amzn-mqtt-ca":
                return "MQTT, X.509 client certificate (port 443, ALPN x-amzn-mqtt-ca)", notes
            if proto == "mqtt":
                return "MQTT, custom authentication (port 443, ALPN mqtt)", notes
            if proto == "x-amzn-http-ca":
                return "HTTPS, X.509 client certificate (port 443, ALPN x-amzn-http-ca)", notes
        notes.append((NOTE, f"Port 443 without ALPN x-amzn-mqtt-ca or mqtt (offered: {offered}): AWS IoT Core takes "
                      "this connection for HTTPS or MQTT over WebSocket; MQTT directly over TLS on port 443 needs ALPN "
                      "x-amzn-mqtt-ca (X.509 client certificate) or mqtt (custom authentication)"))  # fmt: skip
        return "HTTPS or MQTT over WebSocket: Signature Version 4 or custom authentication (port 443)", notes
    for proto in alpn:
        if proto in MQTT_ALPN or proto == "x-amzn-http-ca":
            notes.append((NOTE, f"ALPN {proto} selects the authentication on port 443 only; on port {port} AWS IoT "
                          "Core uses no ALPN"))  # fmt: skip
            break
    if port == 8883:
        return "MQTT, X.509 client certificate (port 8883)", notes
    if port == 8443:
        return "HTTPS, X.509 client certificate (port 8443)", notes
    return f"port {port}: not one of AWS IoT Core's (8883, 443, 8443)", notes


def _gen(fd, value, start: int, source: int, text: str | None = None) -> Node:  # type: ignore[no-untyped-def]
    shown = text if text is not None else f"{fd.name}: {fd.display(value)}"
    return item(fd, value, start, 0, source, text=f"[{shown}]")


def hello_node(port: int, sni: str, alpn: tuple[str, ...], start: int, length: int, source: int) -> Node | None:
    """The ClientHello's AWS IoT subtree (on the SNI's bytes), None if the SNI is no AWS IoT data endpoint."""
    ep = endpoint(sni)
    if ep is None:
        return None
    kind, prefix, region = ep
    top = Node(HELLO, None, start, length, "[AWS IoT Core endpoint]", [], source)
    kids = top.children
    kids.append(_gen(H_TYPE, kind, start, source))
    kids.append(_gen(H_PREFIX, prefix, start, source))
    kids.append(_gen(H_REGION, region, start, source))
    auth, notes = authentication(port, alpn)
    kids.append(_gen(H_AUTH, auth, start, source))
    if kind == LEGACY:
        notes.append((NOTE, _legacy_note(prefix, region, sni)))
    kids.extend(note(sev, msg, start, length, source) for sev, msg in notes)
    return top


def _legacy_note(prefix: str, region: str, sni: str) -> str:
    china = ".cn" if sni.lower().rstrip(".").endswith(".cn") else ""
    return (f"Legacy iot:Data endpoint (VeriSign-signed, kept for backward compatibility): AWS strongly recommends "
            f"the iot:Data-ATS endpoint ({prefix}-ats.iot.{region}.amazonaws.com{china}; its own prefix: "
            "aws iot describe-endpoint --endpoint-type iot:Data-ATS)")  # fmt: skip


def wanted(username: str | None, hello: Hello | None) -> bool:
    """Whether a CONNECT is an AWS IoT Core one: its TLS connection names an AWS IoT endpoint, or its user name
    carries AWS's custom-authorizer or SDK-metrics parameters (a custom domain's SNI says nothing)."""
    if hello is not None and endpoint(hello[0]) is not None:
        return True
    if username is None or "?" not in username:
        return False
    from urllib.parse import parse_qsl  # (here: urllib.parse costs every start-up ~3 ms)

    query = username.rpartition("?")[2]
    keys = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    return NAME in keys or SIGNATURE in keys or "SDK" in keys


def connect_node(client_id: str | None, username: str | None, password: bytes | str | None,
                 hello: Hello | None, at: Node) -> Node:  # fmt: skip
    """The CONNECT's AWS IoT subtree: its connection's endpoint and authentication, the client id checked, the
    user name's SDK and custom-authorizer parameters, whether there is a password (never its value)."""
    s, src = at.start, at.source
    top = item(AWS, "", s, 0, src, text="[AWS IoT Core credentials]")
    kids = top.children

    def warn(severity: str, message: str) -> None:
        kids.append(note(severity, message, s, 0, src))

    auth = ""
    if hello is not None:
        sni, alpn, port, ws = hello
        ep = endpoint(sni)
        if sni:
            kids.append(_gen(A_ENDPOINT, sni, s, src))
        if ep is not None:
            kids.append(_gen(A_TYPE, ep[0], s, src))
            kids.append(_gen(A_REGION, ep[2], s, src))
        kids.append(_gen(A_ALPN, ", ".join(alpn) or "none", s, src))
        auth = "MQTT over WebSocket (port 443)" if ws else authentication(port, alpn)[0]
        kids.append(_gen(A_AUTH, auth, s, src))
        if not ws and port == 443 and not any(p in MQTT_ALPN for p in alpn):
            warn(WARN, "MQTT directly over TLS on port 443 without ALPN x-amzn-mqtt-ca or mqtt: AWS IoT Core takes "
                 "the connection for HTTPS and will not accept this CONNECT")  # fmt: skip
    if client_id is not None:
        size = len(client_id.encode("utf-8", "surrogatepass"))
        kids.append(_gen(A_CLIENT, client_id, s, src))
        kids.append(_gen(A_CLIENT_LEN, size, s, src, f"Client ID length: {size} bytes (AWS IoT Core: at most "
                                                      f"{MAX_CLIENT_ID})"))  # fmt: skip
        if size > MAX_CLIENT_ID:
            warn(WARN, f"Client ID of {size} bytes: AWS IoT Core allows at most {MAX_CLIENT_ID} bytes of UTF-8")
        if client_id.startswith("$"):
            warn(WARN, "Client ID starts with '$': AWS IoT Core client ids can't")
    custom = False
    if username is not None:
        from urllib.parse import parse_qsl

        base, sep, query = username.rpartition("?")
        if not sep:
            base, query = username, ""
        kids.append(_gen(A_USER, base, s, src))
        raw = dict(p.partition("=")[::2] for p in query.split("&") if p)  # as sent, to tell encoded from not
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key in SDK_KEYS:
                kids.append(_gen(SDK_KEYS[key], value, s, src))
            elif key == NAME:
                custom = True
                kids.append(_gen(A_AUTHORIZER, value, s, src))
            elif key == SIGNATURE:
                custom = True
                kids.append(_gen(A_SIGNATURE, value, s, src))
                if any(c in raw.get(key, "") for c in "+/="):
                    warn(NOTE, "The x-amz-customauthorizer-signature is not URL encoded ('+', '/' or '=' as is; a '+' "
                         "reads as a space): AWS asks for it URL encoded")  # fmt: skip
            elif custom or NAME in raw or SIGNATURE in raw:
                kids.append(_gen(A_TOKEN_KEY, key, s, src))  # the authorizer's token key (its value is the token)
    if password is not None:  # (its length only: the value is a secret, masked everywhere else too)
        shown = f"present, {len(password)} bytes"
        if custom or hello is not None and "mqtt" in hello[1]:
            shown += " (AWS IoT Core passes it base64-encoded to the custom authorizer)"
        kids.append(_gen(A_PASSWORD, shown, s, src))
    if custom and hello is not None and not hello[3]:
        port, alpn = hello[2], hello[1]
        if port == 443 and "x-amzn-mqtt-ca" in alpn and "mqtt" not in alpn:
            warn(WARN, "Custom authorizer parameters on port 443 with ALPN x-amzn-mqtt-ca: AWS IoT Core can't use "
                 "custom authentication there (it needs ALPN mqtt)")  # fmt: skip
        elif port != 443 or "mqtt" not in alpn:
            warn(WARN, f"Custom authorizer parameters on port {port} with ALPN {', '.join(alpn) or 'none'}: custom "
                 "authentication over MQTT needs port 443 with ALPN mqtt")  # fmt: skip
    return top
