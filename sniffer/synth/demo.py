"""Build the bundled demo capture (sniffer/data/demo.pcap): devices talking to a cloud IoT platform.

Run `python -m sniffer.synth.demo [OUT]` to regenerate it; the output is deterministic.
Everything here is invented: the platform ("Nimbus IoT"), product key, device names and secret.
The sign-in mimics the scheme such platforms use: a client id carrying
`|securemode=3,signmethod=hmacsha1,timestamp=…|`, a `deviceName&productKey` user name and a
password that is the hex HMAC-SHA1 of the sign-in fields under the device secret.

Client 1 (MQTT 3.1.1): handshake, CONNECT, CONNACK, a granted and a refused (0x80) SUBSCRIBE,
an Alink-style property post at QoS 1 and its PUBACK, the platform's reply, a command from the
platform, PINGREQ/PINGRESP, UNSUBSCRIBE/UNSUBACK, DISCONNECT and the TCP close.
Client 2 (MQTT 5), interleaved: properties on CONNECT/CONNACK/SUBSCRIBE/PUBLISH, a QoS 2 flow
(PUBLISH, PUBREC, PUBREL, PUBCOMP), a topic-alias-only PUBLISH and a DISCONNECT with a reason code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path

from . import mqtt_encode as m
from .flows import TcpFlow
from .pcap_write import FrameList

PRODUCT_KEY = "n7QpZr2Kx4B"
DEVICE_NAME = "greenhouse-th01"
DEVICE_SECRET = "Vd3hX9qLr0TzK2mWc8yPn5sJ4bG7fA1e"
CLIENT_ID = "GH-TH01-5C3A"
PLATFORM = ("203.0.113.50", 1883)
T0_US = 1_716_969_600_000_000  # 2024-05-29 08:00:00 UTC
SEC = 1_000_000


def demo_path() -> Path:
    """Where the packaged demo capture lives."""
    return Path(__file__).resolve().parent.parent / "data" / "demo.pcap"


def sign_in(client_id: str, device: str, product_key: str, secret: str, timestamp_ms: int) -> tuple[str, str, str]:
    """(MQTT client id, user name, password) for an HMAC-SHA1 signed device login."""
    content = f"clientId{client_id}deviceName{device}productKey{product_key}timestamp{timestamp_ms}"
    password = hmac.new(secret.encode(), content.encode(), hashlib.sha1).hexdigest()
    mqtt_id = f"{client_id}|securemode=3,signmethod=hmacsha1,timestamp={timestamp_ms}|"
    return mqtt_id, f"{device}&{product_key}", password


def _alink(msg_id: str, params: dict, method: str) -> bytes:
    return _compact({"id": msg_id, "version": "1.0", "params": params, "method": method})


def _compact(obj: dict) -> bytes:
    # devices send JSON without spaces: every byte costs on a metered link
    return json.dumps(obj, separators=(",", ":")).encode()


def _device_session(sink: FrameList) -> None:
    pk, dn = PRODUCT_KEY, DEVICE_NAME
    f = TcpFlow(
        sink,
        ("192.168.31.77", 51734),
        PLATFORM,
        client_mac="f0:08:d1:4c:3a:5c",
        server_mac="00:1c:73:0e:21:90",
        isn=(0x3F1A22C7, 0x9B04E511),
        ip_id=(0x4C21, 0x0),
        rtt_us=38_000,
    )
    t = f.open(T0_US)
    cid, user, pw = sign_in(CLIENT_ID, dn, pk, DEVICE_SECRET, T0_US // 1000)
    t = f.send(0, m.connect(cid, 4, clean=True, keepalive=60, username=user, password=pw), t + 4_000, ack=False)
    t = f.send(1, m.connack(0), t + 41_000, ack=False)
    t = f.send(0, m.subscribe(1, [(f"/sys/{pk}/{dn}/thing/event/property/post_reply", 1)]), t + 120_000, ack=False)
    t = f.send(1, m.suback(1, [1]), t + 40_000, ack=False)
    # a topic the device is not authorised for: the platform refuses it with 0x80
    t = f.send(0, m.subscribe(2, [(f"/{pk}/greenhouse-th02/user/get", 0)]), t + 35_000, ack=False)
    t = f.send(1, m.suback(2, [0x80]), t + 40_000)

    post = f"/sys/{pk}/{dn}/thing/event/property/post"
    params = {"CurrentTemperature": 23.6, "CurrentHumidity": 61, "SoilMoisture": 37.5, "LightLux": 12840}
    t = f.send(0, m.publish(post, _alink("1", params, "thing.event.property.post"), 1, 3), t + 2 * SEC, ack=False)
    t = f.send(1, m.puback(3), t + 39_000, ack=False)
    reply = {"code": 200, "data": {}, "id": "1", "message": "success", "method": "thing.event.property.post"}
    t = f.send(1, m.publish(post + "_reply", _compact(reply | {"version": "1.0"}), 0), t + 6_000)

    # the platform sets a property (QoS 0 command), the device posts the new state
    cmd = _alink("101", {"FanSwitch": 1}, "thing.service.property.set")
    t = f.send(1, m.publish(f"/sys/{pk}/{dn}/thing/service/property/set", cmd, 0), t + 17 * SEC)
    params = {"CurrentTemperature": 23.1, "CurrentHumidity": 60, "FanSwitch": 1}
    t = f.send(0, m.publish(post, _alink("2", params, "thing.event.property.post"), 1, 4), t + 800_000, ack=False)
    t = f.send(1, m.puback(4), t + 40_000, ack=False)
    reply["id"] = "2"
    t = f.send(1, m.publish(post + "_reply", _compact(reply | {"version": "1.0"}), 0), t + 5_000)

    # keep-alive 60 s: a ping after a quiet minute
    t = f.send(0, m.pingreq(), T0_US + 81 * SEC, ack=False)
    t = f.send(1, m.pingresp(), t + 38_000)
    t = f.send(0, m.unsubscribe(5, [f"/sys/{pk}/{dn}/thing/event/property/post_reply"]), t + 9 * SEC, ack=False)
    t = f.send(1, m.unsuback(5), t + 39_000)
    t = f.send(0, m.disconnect(), t + 1_500_000, ack=False)
    f.close(t + 1_000, 0)


def _gateway_session(sink: FrameList) -> None:
    f = TcpFlow(
        sink,
        ("192.168.31.80", 40211),
        PLATFORM,
        client_mac="dc:a6:32:7e:11:04",
        server_mac="00:1c:73:0e:21:90",
        isn=(0x71C0FFEE & 0xFFFFFFFF, 0x0BADF00D),
        ip_id=(0x1F00, 0x0),
        rtt_us=36_000,
    )
    t = f.open(T0_US + 5_200_000)
    props = [
        ("session_expiry_interval", 3600),
        ("receive_maximum", 16),
        ("topic_alias_maximum", 8),
        ("request_problem_information", 1),
        ("user_property", ("region", "eu-west")),
        ("user_property", ("fw", "2.4.1")),
    ]
    will = m.Will(
        "lab/gw-02/status",
        b'{"online":false}',
        qos=1,
        retain=True,
        properties=[("will_delay_interval", 10), ("content_type", "application/json")],
    )
    t = f.send(
        0, m.connect("lab-gw-02", 5, keepalive=30, username="gw-02", will=will, props=props), t + 3_000, ack=False
    )
    cprops = [
        ("session_expiry_interval", 3600),
        ("topic_alias_maximum", 8),
        ("server_keep_alive", 30),
        ("maximum_packet_size", 262144),
        ("retain_available", 1),
    ]
    t = f.send(1, m.connack(0, False, 5, cprops), t + 40_000, ack=False)
    sub = [("lab/gw-02/cmd/#", m.sub_options(qos=2, no_local=True, retain_handling=1))]
    t = f.send(0, m.subscribe(1, sub, 5, [("subscription_identifier", 7)]), t + 90_000, ack=False)
    t = f.send(1, m.suback(1, [2], 5), t + 38_000)

    payload = _compact({"sensor": "co2", "ppm": 612, "ts": (T0_US + 9 * SEC) // 1000})
    pprops = [
        ("payload_format_indicator", 1),
        ("message_expiry_interval", 120),
        ("topic_alias", 1),
        ("response_topic", "lab/gw-02/reply"),
        ("correlation_data", b"req-0001"),
        ("user_property", ("unit", "ppm")),
        ("content_type", "application/json"),
    ]
    t = f.send(0, m.publish("lab/gw-02/telemetry", payload, 2, 10, version=5, props=pprops), t + 3_800_000, ack=False)
    t = f.send(1, m.pubrec(10, 5), t + 37_000, ack=False)
    t = f.send(0, m.pubrel(10, 5), t + 1_000, ack=False)
    t = f.send(1, m.pubcomp(10, 5), t + 37_000)
    # the alias alone names the topic now: an empty topic name and topic alias 1
    payload = _compact({"sensor": "co2", "ppm": 640, "ts": (T0_US + 39 * SEC) // 1000})
    t = f.send(0, m.publish("", payload, 1, 11, version=5, props=[("topic_alias", 1)]), t + 30 * SEC, ack=False)
    t = f.send(1, m.puback(11, 5, 0x10, [("reason_string", "no matching subscribers")]), t + 38_000)
    t = f.send(0, m.pingreq(), t + 29 * SEC, ack=False)
    t = f.send(1, m.pingresp(), t + 36_000)
    t = f.send(0, m.disconnect(5, 0x00, [("session_expiry_interval", 0)]), t + 20 * SEC, ack=False)
    f.close(t + 1_000, 0)


def build() -> FrameList:
    """Both sessions, merged in time order."""
    a, b = FrameList(), FrameList()
    _device_session(a)
    _gateway_session(b)
    merged = FrameList()
    merged.frames_list = sorted(a.frames_list + b.frames_list, key=lambda x: x[0])
    return merged


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else demo_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    frames = build()
    frames.save(str(out))
    print(f"wrote {frames.frames} frames to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
