"""Realistic MQTT traffic of any size for benchmarks and tests (the engine behind bench/gen_capture.py).

Many clients (MQTT 3.1.1 and 5 mixed) each run sessions against one broker: handshake, CONNECT,
CONNACK, SUBSCRIBE with wildcards, then a random mix of PUBLISH at QoS 0/1/2 in both directions
with their acknowledgement flows, JSON payloads of varied sizes (some spanning dozens of segments),
bursts of PDUs coalesced into one segment, PINGREQ/PINGRESP and UNSUBSCRIBE, and finally
DISCONNECT and a FIN close (sometimes an RST) before reconnecting from a new port.  Sessions are
interleaved on one monotonic clock.  The generator counts every PDU it writes by type, so a test
can compare with tshark, and it stops at exactly the requested number of frames with every
connection closed.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter

from . import mqtt_encode as m
from .flows import Sink, TcpFlow

BROKER_V4 = "10.0.0.1"
BROKER_V6 = "fd00:6d71::1"
_CLOSE_FRAMES = 4  # DISCONNECT, FIN/ACK, FIN/ACK, ACK

_SITES = ("plant-a", "plant-b", "warehouse", "lab", "hq")
_KINDS = ("temp", "humidity", "power", "vibration", "door", "co2")


class _Client:
    __slots__ = ("idx", "ip", "port", "version", "flow", "msgid", "actions_left", "aliases", "name", "topics", "mac")

    def __init__(self, idx: int, version: int, ipv6: bool) -> None:
        self.idx = idx
        self.ip = (
            f"fd00:6d71::{idx + 0x100:x}" if ipv6 else f"10.{1 + idx // 65000}.{idx // 250 % 260 % 256}.{idx % 250 + 2}"
        )
        self.port = 32768 + (idx * 7919) % 20000
        self.version = version
        self.flow: TcpFlow | None = None
        self.msgid = 0
        self.actions_left = 0
        self.aliases: dict[str, int] = {}
        self.name = f"{_KINDS[idx % len(_KINDS)]}-sensor-{idx:04d}"
        site = _SITES[idx % len(_SITES)]
        self.topics = [f"{site}/{self.name}/telemetry", f"{site}/{self.name}/status", f"{site}/{self.name}/events"]
        self.mac = f"02:10:{idx >> 16 & 0xFF:02x}:{idx >> 8 & 0xFF:02x}:{idx & 0xFF:02x}:01"

    def next_id(self) -> int:
        self.msgid = self.msgid % 65535 + 1
        return self.msgid


class TrafficGenerator:
    """Writes `frames` frames of interleaved MQTT sessions to `sink`; `counts` maps msgtype -> PDUs."""

    def __init__(
        self,
        sink: Sink,
        frames: int,
        clients: int = 200,
        seed: int = 1,
        v5_share: float = 0.5,
        ipv6_share: float = 0.0,
        t0_us: int = 1_717_000_000_000_000,
        large_share: float = 0.01,
    ) -> None:
        self.sink = sink
        self.target = frames
        self.rng = random.Random(seed)
        self.now = t0_us
        self.counts: Counter[int] = Counter()
        self.open_count = 0
        self.large_share = large_share
        rng = self.rng
        self.clients = [
            _Client(i, 5 if rng.random() < v5_share else 4, rng.random() < ipv6_share) for i in range(clients)
        ]
        # large payloads are built once (building 300 KB of JSON per message would dominate the run)
        self.large = [self._json_blob(n) for n in (6_000, 20_000, 64_000, 150_000, 300_000)]

    # ---- payloads ------------------------------------------------------------------------

    def _json_blob(self, size: int) -> bytes:
        rng = self.rng
        samples = []
        total = 0
        while total < size:
            s = {"ts": 1717000000000 + len(samples) * 250, "v": round(rng.uniform(-40, 120), 3), "q": rng.randint(0, 3)}
            samples.append(s)
            total += 40
        return json.dumps({"batch": len(samples), "samples": samples}, separators=(",", ":")).encode()

    def _small_json(self, c: _Client) -> bytes:
        r = self.rng.random()
        base = f'{{"id":"{c.msgid}","device":"{c.name}","ts":{self.now // 1000},"value":{self.rng.uniform(0, 100):.2f}'
        if r < 0.6:
            return (base + "}").encode()
        if r < 0.9:
            extra = ",".join(f'"r{i}":{self.rng.randint(0, 9999)}' for i in range(self.rng.randint(5, 40)))
            return (base + f',"readings":{{{extra}}}}}').encode()
        # a medium message: one to three segments
        return (base + ',"log":"' + "x" * self.rng.randint(1000, 4000) + '"}').encode()

    # ---- sending ---------------------------------------------------------------------------

    def _tx(self, c: _Client, side: int, pdus: list[bytes], *, ack: bool = True, delay: int = 300) -> None:
        for p in pdus:
            self.counts[p[0] >> 4] += 1
        self.now = c.flow.send(side, pdus, self.now + delay, ack=ack)  # type: ignore[union-attr]

    def _connect(self, c: _Client) -> None:
        rng, v = self.rng, c.version
        c.port = c.port + 1 if c.port < 60999 else 32768
        c.flow = TcpFlow(
            self.sink,
            (c.ip, c.port),
            (BROKER_V6 if ":" in c.ip else BROKER_V4, 1883),
            client_mac=c.mac,
            isn=(rng.getrandbits(32), rng.getrandbits(32)),
            ip_id=(rng.getrandbits(16), rng.getrandbits(16)),
            rtt_us=rng.randint(300, 4000),
        )
        c.aliases = {}
        self.open_count += 1
        self.now = c.flow.open(self.now)
        props = None
        will = None
        if v == 5:
            props = [
                ("session_expiry_interval", rng.choice((0, 300, 3600))),
                ("receive_maximum", 20),
                ("topic_alias_maximum", 10),
                ("user_property", ("fw", f"1.{c.idx % 7}.{c.idx % 13}")),
            ]
        if rng.random() < 0.3:
            will = m.Will(c.topics[1], b'{"online":false}', qos=1, retain=True)
            if v == 5:
                will.properties = [("will_delay_interval", 5), ("content_type", "application/json")]
        user = f"user{c.idx}" if rng.random() < 0.7 else None
        self._tx(
            c,
            0,
            [
                m.connect(
                    c.name,
                    v,
                    clean=True,
                    keepalive=60,
                    username=user,
                    password=user and "s3cret",
                    will=will,
                    props=props,
                )
            ],
            ack=False,
        )
        cprops = None
        if v == 5:
            cprops = [("topic_alias_maximum", 10), ("server_keep_alive", 60), ("maximum_packet_size", 1 << 20)]
        self._tx(c, 1, [m.connack(0, False, v, cprops)])
        filters = [f"{c.topics[0].split('/')[0]}/+/cmd", "broadcast/#"]
        if v == 5:
            topics = [(f, m.sub_options(qos=rng.randint(0, 2), no_local=i == 0)) for i, f in enumerate(filters)]
        else:
            topics = [(f, rng.randint(0, 2)) for f in filters]
        mid = c.next_id()
        self._tx(c, 0, [m.subscribe(mid, topics, v)], ack=False)
        self._tx(c, 1, [m.suback(mid, [t[1] & 3 for t in topics], v)])
        c.actions_left = rng.randint(10, 120)

    def _publish_flow(self, c: _Client, side: int, topic: str, payload: bytes, qos: int) -> None:
        """One PUBLISH from `side` with its acknowledgement flow."""
        v = c.version
        mid = c.next_id() if qos else None
        props = None
        if v == 5:
            props = [("payload_format_indicator", 1), ("content_type", "application/json")]
            if side == 0:
                # client-to-server topic aliases: the first use maps, later ones send an empty topic
                alias = c.aliases.get(topic)
                if alias is not None:
                    props.append(("topic_alias", alias))
                    topic = ""
                elif len(c.aliases) < 10:
                    c.aliases[topic] = len(c.aliases) + 1
                    props.append(("topic_alias", c.aliases[topic]))
        other = 1 - side
        pub = m.publish(topic, payload, qos, mid, version=v, props=props)
        if qos == 0:
            self._tx(c, side, [pub])
        elif qos == 1:
            self._tx(c, side, [pub], ack=False)
            self._tx(c, other, [m.puback(mid, v)])  # type: ignore[arg-type]
        else:
            self._tx(c, side, [pub], ack=False)
            self._tx(c, other, [m.pubrec(mid, v)], ack=False)  # type: ignore[arg-type]
            self._tx(c, side, [m.pubrel(mid, v)], ack=False)  # type: ignore[arg-type]
            self._tx(c, other, [m.pubcomp(mid, v)])  # type: ignore[arg-type]

    def _action(self, c: _Client) -> None:
        rng = self.rng
        r = rng.random()
        v = c.version
        if r < 0.30:
            self._publish_flow(c, 0, c.topics[0], self._small_json(c), 0)
        elif r < 0.40:
            # a burst: several QoS 0 PUBLISHes coalesced into one segment
            pdus = [m.publish(c.topics[0], self._small_json(c), 0, version=v) for _ in range(rng.randint(2, 6))]
            self._tx(c, 0, pdus)
        elif r < 0.58:
            self._publish_flow(c, 0, rng.choice(c.topics), self._small_json(c), 1)
        elif r < 0.68:
            self._publish_flow(c, 0, c.topics[2], self._small_json(c), 2)
        elif r < 0.88:
            topic = f"{c.topics[0].split('/')[0]}/{c.name}/cmd" if rng.random() < 0.7 else "broadcast/config"
            self._publish_flow(c, 1, topic, self._small_json(c), rng.choice((0, 0, 1, 2)))
        elif r < 0.88 + self.large_share and self._room(400):
            self._publish_flow(c, 0, c.topics[0] + "/batch", rng.choice(self.large), rng.choice((0, 1, 2)))
        elif r < 0.97:
            self._tx(c, 0, [m.pingreq()], ack=False)
            self._tx(c, 1, [m.pingresp()])
        else:
            mid = c.next_id()
            filt = f"{c.topics[0].split('/')[0]}/+/cmd"
            self._tx(c, 0, [m.unsubscribe(mid, [filt], v)], ack=False)
            self._tx(c, 1, [m.unsuback(mid, [0] if v == 5 else (), v)])
            mid = c.next_id()
            self._tx(c, 0, [m.subscribe(mid, [(filt, 1)], v)], ack=False)
            self._tx(c, 1, [m.suback(mid, [1], v)])

    def _disconnect(self, c: _Client) -> None:
        flow = c.flow
        assert flow is not None
        if self.rng.random() < 0.05:
            self.now = flow.reset(self.now + 500, self.rng.randint(0, 1))
        else:
            self._tx(c, 0, [m.disconnect(c.version)], ack=False)
            self.now = flow.close(self.now + 200, 0)
        c.flow = None
        self.open_count -= 1

    # ---- scheduling ------------------------------------------------------------------------

    def _frames(self) -> int:
        return self.sink.frames  # type: ignore[attr-defined]

    def _room(self, n: int) -> bool:
        """True while `n` more frames still leave room to close every connection in budget."""
        return self._frames() + n + _CLOSE_FRAMES * (self.open_count + 1) < self.target

    def run(self) -> Counter[int]:
        rng = self.rng
        heap = [(self.now + rng.randint(0, 2_000_000), c.idx) for c in self.clients]
        heapq.heapify(heap)
        while heap and self._room(60):
            t, idx = heapq.heappop(heap)
            c = self.clients[idx]
            self.now = max(self.now, t)
            if c.flow is None:
                self._connect(c)
            elif c.actions_left <= 0:
                self._disconnect(c)
                heapq.heappush(heap, (self.now + rng.randint(200_000, 3_000_000), idx))
                continue
            else:
                self._action(c)
                c.actions_left -= 1
            heapq.heappush(heap, (self.now + int(rng.expovariate(1 / (12_500 * len(self.clients)))) + 1, idx))
        self._finish()
        return self.counts

    def _finish(self) -> None:
        """Pad with ping exchanges, then close every open connection, landing on the exact target."""
        open_clients = [c for c in self.clients if c.flow is not None]
        spare = self.target - self._frames() - _CLOSE_FRAMES * len(open_clients)
        pinger = open_clients[0] if open_clients else None
        if pinger is None and spare > 0:
            self._connect(self.clients[0])
            pinger = self.clients[0]
            open_clients = [pinger]
            spare = self.target - self._frames() - _CLOSE_FRAMES
        while pinger is not None and spare >= 2:
            # PINGREQ + PINGRESP carry each other's ACKs: two frames; three with the final ACK
            self._tx(pinger, 0, [m.pingreq()], ack=False)
            self._tx(pinger, 1, [m.pingresp()], ack=spare == 3)
            spare -= 3 if spare == 3 else 2
        for c in open_clients:
            self._disconnect_exact(c, spare == 1 and c is open_clients[-1])

    def _disconnect_exact(self, c: _Client, extra_ack: bool) -> None:
        flow = c.flow
        assert flow is not None
        self._tx(c, 0, [m.disconnect(c.version)], ack=extra_ack)
        self.now = flow.close(self.now + 200, 0)
        c.flow = None


def generate(sink: Sink, frames: int, **kw: object) -> Counter[int]:
    """Write `frames` frames of realistic traffic to `sink`; returns PDU counts by msgtype."""
    return TrafficGenerator(sink, frames, **kw).run()  # type: ignore[arg-type]
