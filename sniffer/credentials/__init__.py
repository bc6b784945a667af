"""Cloud-platform credentials in a CONNECT, decoded as generated fields and checked against the secret.

Alibaba Cloud IoT (client id `core|securemode=3,signmethod=hmacsha1,timestamp=…|`, user name
`deviceName&productKey`, password `hex(HMAC(deviceSecret, content))`) and Azure IoT Hub (user name
`hub/device/?api-version=…`, password `SharedAccessSignature sr=…&sig=…&se=…`). With the device secret
(`-o mqtt.secret:"productKey/deviceName=SECRET"`, repeatable; never printed) the HMAC is recomputed over
the content strings clients are known to sign, and the tree says which matched or that none did; an Azure
device key (`-o mqtt.secret:"hub.azure-devices.net/deviceId=BASE64KEY"`) checks the SAS signature.
AWS IoT Core (its endpoint from the TLS ClientHello, client id and user name parameters) is sniffer.credentials.aws.
Runs where payloads are decoded (sniffer.payload's demand): only a tree asked for it pays, only CONNECTs.
"""

from __future__ import annotations

import os
import time
from typing import Final

# hashlib (OpenSSL), hmac, base64 and urllib.parse are imported where a cloud CONNECT is checked:
# every command imports this module (its fields are registered), few captures hold such a CONNECT
from sniffer.credentials import aws
from sniffer.fields import FT, NOTE, WARN, Base, Node, item, note, register

S, D, A, U = FT.STRING, FT.DOUBLE, FT.ABSTIME, FT.UINT
NB = Base.NONE
PROTOCOLS: Final = frozenset({"aliyun", "azure", "aws"})

ALIYUN: Final = register("aliyun", "Alibaba Cloud IoT credentials", FT.PROTOCOL, NB)
AL_CLIENT: Final = register("aliyun.clientid", "Client ID", S, NB)
AL_SECUREMODE: Final = register("aliyun.securemode", "Secure Mode", U, Base.DEC,
                                values={2: "TLS", 3: "TCP (no TLS)", -2: "TLS (dynamic registration)"})  # fmt: skip
AL_SIGNMETHOD: Final = register("aliyun.signmethod", "Sign Method", S, NB)
AL_TIMESTAMP: Final = register("aliyun.timestamp", "Timestamp", A, NB)
AL_SKEW: Final = register("aliyun.timestamp_offset", "Capture time minus timestamp", D, NB)
AL_DEVICE: Final = register("aliyun.device_name", "Device Name", S, NB)
AL_PRODUCT: Final = register("aliyun.product_key", "Product Key", S, NB)
AL_PASSWORD_FORM: Final = register("aliyun.password_form", "Password form", S, NB)
AL_CHECK: Final = register("aliyun.password_check", "Password check", S, NB)

AZURE: Final = register("azure", "Azure IoT Hub credentials", FT.PROTOCOL, NB)
AZ_HUB: Final = register("azure.hub", "IoT Hub", S, NB)
AZ_DEVICE: Final = register("azure.device_id", "Device ID", S, NB)
AZ_RESOURCE: Final = register("azure.sas.resource", "SAS resource (sr)", S, NB)
AZ_EXPIRY: Final = register("azure.sas.expiry", "SAS expiry (se)", A, NB)
AZ_POLICY: Final = register("azure.sas.policy", "SAS policy (skn)", S, NB)
AZ_CHECK: Final = register("azure.sas.check", "SAS signature check", S, NB)

_DIGESTS: Final = {"hmacsha1": "sha1", "hmacsha256": "sha256", "hmacmd5": "md5"}  # hashlib's names
# Alibaba Cloud IoT regions (the regionId some SDKs sign)
REGIONS: Final = ("cn-shanghai", "cn-beijing", "cn-shenzhen", "cn-hangzhou", "cn-qingdao", "cn-zhangjiakou",
                  "cn-huhehaote", "cn-chengdu", "cn-hongkong", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
                  "ap-southeast-5", "ap-northeast-1", "ap-south-1", "us-west-1", "us-east-1", "eu-central-1",
                  "eu-west-1", "me-east-1")  # fmt: skip
SKEW_NOTE: Final = 15 * 60  # seconds between a signed timestamp and the capture worth a note


class Secrets:
    """Device secrets by 'productKey/deviceName', set once by the CLI (-o mqtt.secret)."""

    by_device: dict[str, str] = {}


class SecretConfigError(ValueError):
    pass


def configure(items: list[str], path: str | None = None) -> None:
    """Secrets from -o mqtt.secret values, then the [devices] table of secrets.toml beside decoders.toml
    (out of the process list and the shell history); -o wins. Raises SecretConfigError."""
    table: dict[str, str] = {}
    for who, secret in _from_file(path if path is not None else _secrets_path()).items():
        table[who] = secret
    for i in items:
        who, sep, secret = i.partition("=")
        if not sep or "/" not in who or not secret:
            raise SecretConfigError("bad mqtt.secret: expected productKey/deviceName=SECRET")
        table[who.strip()] = secret
    Secrets.by_device = table


def _secrets_path() -> str:
    import os

    from sniffer.payload.choose import config_path

    return os.path.join(os.path.dirname(config_path()), "secrets.toml")


def _from_file(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}
    except PermissionError:
        if not os.path.lexists(path):  # a directory on the way we may not enter: no file we can see
            return {}
        raise SecretConfigError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise SecretConfigError(f"cannot read {path}: {e.strerror}") from None
    from sniffer.payload.choose import DecodeConfigError, toml_module

    try:
        tomllib = toml_module(path)
    except DecodeConfigError as e:
        raise SecretConfigError(str(e)) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise SecretConfigError(f"{path}: not valid TOML") from None  # (no detail: it could quote a secret)
    devices = doc.get("devices", {})
    if not isinstance(devices, dict) or not all(isinstance(v, str) and "/" in k for k, v in devices.items()):
        raise SecretConfigError(f'{path}: expected a [devices] table of "productKey/deviceName" = "SECRET" lines')
    return dict(devices)


def _gen(fd, value, at: Node, text: str | None = None) -> Node:  # type: ignore[no-untyped-def]
    return item(
        fd, value, at.start, 0, at.source, text=f"[{text if text is not None else fd.name + ': ' + fd.display(value)}]"
    )


def _values(root: Node) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for n in root.children:
        if n.fdef is not None and n.fdef.abbrev in ("mqtt.clientid", "mqtt.username", "mqtt.passwd"):
            out[n.fdef.abbrev] = n
    return out


def attach(root: Node, ts: float, hello: aws.Hello | None = None) -> None:
    """Add the credentials subtree to one CONNECT's MQTT node, if its credentials follow a known platform.
    `hello`: the SNI, ALPN and server port of its TLS connection's ClientHello (sniffer.credentials.aws)."""
    v = _values(root)
    cid, user, pw = v.get("mqtt.clientid"), v.get("mqtt.username"), v.get("mqtt.passwd")
    username = None if user is None else str(user.value)
    if aws.wanted(username, hello):
        at = cid if cid is not None else root
        root.children.append(aws.connect_node(None if cid is None else str(cid.value), username,
                                              None if pw is None else pw.value, hello, at))  # fmt: skip
    elif cid is not None and "|" in str(cid.value) and user is not None and "&" in str(user.value):
        root.children.append(_aliyun(str(cid.value), str(user.value), None if pw is None else str(pw.value), ts, cid))
    elif pw is not None and str(pw.value).startswith("SharedAccessSignature "):
        root.children.append(_azure(None if user is None else str(user.value), str(pw.value), ts, pw))


def _aliyun(client_id: str, username: str, password: str | None, ts: float, at: Node) -> Node:
    core, _, rest = client_id.partition("|")
    params = dict(p.partition("=")[::2] for p in rest.rstrip("|").split(",") if p)
    device, _, product = username.partition("&")
    top = item(ALIYUN, "", at.start, 0, at.source, text="[Alibaba Cloud IoT credentials]")
    kids = top.children
    kids.append(_gen(AL_CLIENT, core, at))
    mode = params.get("securemode")
    if mode is not None and mode.lstrip("-").isdigit():
        kids.append(_gen(AL_SECUREMODE, int(mode), at))
    method = params.get("signmethod", "")
    kids.append(_gen(AL_SIGNMETHOD, method, at))
    stamp = params.get("timestamp")
    if stamp is not None and stamp.isdigit():
        signed = int(stamp) / 1000
        kids.append(_gen(AL_TIMESTAMP, signed, at))
        offset = round(ts - signed, 6)  # to the microsecond, as every time here (and a filter made from it matches)
        kids.append(_gen(AL_SKEW, offset, at, f"Capture time minus timestamp: {offset:.3f} seconds"))
        if abs(offset) > SKEW_NOTE:
            kids.append(note(WARN, f"The signed timestamp is {abs(offset):.0f} s {'before' if offset > 0 else 'after'}"
                             " the capture time: the platform may refuse it", at.start, 0, at.source))  # fmt: skip
    kids.append(_gen(AL_DEVICE, device, at))
    kids.append(_gen(AL_PRODUCT, product, at))
    if password is None:
        return top
    import hashlib
    import hmac

    digest = _DIGESTS.get(method.lower())
    want = hashlib.new(digest).digest_size * 2 if digest is not None else 0
    is_hex = all(c in "0123456789abcdefABCDEF" for c in password)
    form = f"{len(password)} {'hex digits' if is_hex else 'characters'}"
    if digest is not None:
        form += f" ({'as' if is_hex and len(password) == want else 'not the'} {want} hex digits of {method})"
    kids.append(_gen(AL_PASSWORD_FORM, form, at))
    if digest is None:
        kids.append(note(WARN, f"Unknown sign method '{method}'", at.start, 0, at.source))
        return top
    secret = Secrets.by_device.get(f"{product}/{device}")
    if secret is None:
        return top
    variants = _aliyun_variants(core, device, product, params)
    got = password.lower()
    for name, content in variants:
        if hmac.compare_digest(hmac.new(secret.encode(), content.encode(), digest).hexdigest(), got):
            kids.append(_gen(AL_CHECK, f"password matches ({method} over {name})", at))
            return top
    for other, dig in _DIGESTS.items():  # signed right, but with another method than the client id says
        if other != method.lower() and any(
            hmac.compare_digest(hmac.new(secret.encode(), c.encode(), dig).hexdigest(), got) for _, c in variants
        ):
            kids.append(
                _gen(AL_CHECK, f"password does not match: it is signed with {other}, the client id says {method}", at)
            )
            kids.append(
                note(WARN, f"Password signed with {other}, not the client id's {method}", at.start, 0, at.source)
            )
            return top
    kids.append(_gen(AL_CHECK, "password does not match", at))
    tried = "; ".join(n for n, _ in variants if "regionId" not in n) + f"; with regionId, {len(REGIONS)} regions"
    kids.append(note(WARN, f"Password does not match the device secret given for {product}/{device} (tried "
                     f"{tried}): wrong secret, or the signed values differ from those sent (a timestamp signed"
                     " other than the client id's)", at.start, 0, at.source))  # fmt: skip
    return top


def _aliyun_variants(core: str, device: str, product: str, params: dict[str, str]) -> list[tuple[str, str]]:
    """(description, content) of the strings Alibaba Cloud IoT clients sign: sorted key+value pairs."""
    base = {"clientId": core, "deviceName": device, "productKey": product}
    out = []
    stamp = params.get("timestamp")
    sets = [("clientId, deviceName, productKey, timestamp", {**base, "timestamp": stamp})] if stamp else []
    sets.append(("clientId, deviceName, productKey", base))
    extra = {k: v for k, v in params.items() if k not in ("securemode", "signmethod", "timestamp", "gw", "ext")}
    if extra:
        sets.append((", ".join(sorted({**base, **extra, **({"timestamp": stamp} if stamp else {})})),
                     {**base, **extra, **({"timestamp": stamp} if stamp else {})}))  # fmt: skip
    # Some SDKs sign every option they were given: aliyun-iot-mqtt 0.0.1 signs regionId too, which the
    # CONNECT does not carry; the platform's regions are few, so each is tried.
    for region in REGIONS:
        kv = {**base, "regionId": region, **({"timestamp": stamp} if stamp else {})}
        sets.append((", ".join(f"{k}={region}" if k == "regionId" else k for k in sorted(kv)), kv))
    for name, kv in sets:
        out.append((name, "".join(f"{k}{kv[k]}" for k in sorted(kv))))
    return out


def _azure(username: str | None, password: str, ts: float, at: Node) -> Node:
    import base64
    import hashlib
    import hmac
    from urllib.parse import parse_qs, quote, unquote

    top = item(AZURE, "", at.start, 0, at.source, text="[Azure IoT Hub credentials]")
    kids = top.children
    if username is not None and "/" in username:
        hub, _, rest = username.partition("/")
        kids.append(_gen(AZ_HUB, hub, at))
        kids.append(_gen(AZ_DEVICE, rest.split("/?", 1)[0].rstrip("/"), at))
    q = parse_qs(password[len("SharedAccessSignature ") :], keep_blank_values=True)
    sr = unquote(q.get("sr", [""])[0])
    kids.append(_gen(AZ_RESOURCE, sr, at))
    if "skn" in q:
        kids.append(_gen(AZ_POLICY, q["skn"][0], at))
    se = q.get("se", [""])[0]
    if se.isdigit():
        kids.append(_gen(AZ_EXPIRY, float(se), at))
        if int(se) < ts:
            ago = ts - int(se)
            kids.append(note(WARN, f"The SAS token expired {ago:.0f} s before the capture time "
                             f"({time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(int(se)))} UTC)",
                             at.start, 0, at.source))  # fmt: skip
    else:
        kids.append(note(WARN, "The SAS token has no expiry (se)", at.start, 0, at.source))
    if "sig" not in q:
        kids.append(note(WARN, "The SAS token has no signature (sig)", at.start, 0, at.source))
        return top
    try:
        sig = base64.b64decode(q["sig"][0], validate=True)
    except ValueError:
        kids.append(note(NOTE, "The SAS signature is not base64", at.start, 0, at.source))
        return top
    device = kids[1].value if len(kids) > 1 and kids[1].fdef is AZ_DEVICE else ""
    hub = kids[0].value if kids and kids[0].fdef is AZ_HUB else ""
    secret = Secrets.by_device.get(f"{hub}/{device}")
    if secret is None:
        return top
    try:
        key = base64.b64decode(secret, validate=True)
    except ValueError:
        key = secret.encode()
    # the string signed is the URL-encoded resource, a newline and the expiry (Azure's SAS docs); the
    # token carries that encoded resource, some SDKs encode it in lower case
    raw_sr = password.split("sr=", 1)[1].split("&", 1)[0] if "sr=" in password else ""
    tried = {raw_sr, raw_sr.lower(), quote(sr, safe=""), quote(sr, safe="").lower()}
    ok = any(hmac.compare_digest(hmac.new(key, f"{r}\n{se}".encode(), hashlib.sha256).digest(), sig) for r in tried)
    kids.append(_gen(AZ_CHECK, "signature matches" if ok else "signature does not match", at))
    if not ok:
        kids.append(note(WARN, f"SAS signature does not match the device key given for {hub}/{device}",
                         at.start, 0, at.source))  # fmt: skip
    return top
