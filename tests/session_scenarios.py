"""Real MQTT session scenarios captured live on lo (mosquitto, paho and raw-socket clients, tcpdump).

Not a test module: the session-layer tests and tests/test_session_scenarios.py call one function per
scenario; each starts its own broker and tcpdump, runs real clients, waits until every connection in
the capture is closed, and returns the pcap with the facts a test needs (client ids, ports, topics,
counts). Capturing on lo needs root. `pairs_from_tshark` pairs requests with responses from tshark's
own fields, independently of mqttsniff, so the tracker's `mqtt.response_in/response_to/time` can be
checked against it.

What mosquitto 2.0.11 really does (checked with tshark): it closes a taken-over connection without a
DISCONNECT, even for MQTT 5; it closes a keep-alive expiry silently and late (keep-alive 2 s: closed
5.0 to 5.8 s after the CONNECT in five runs, not 3 s); a second CONNECT gets the connection closed;
the only MQTT 5 DISCONNECT with a reason it sent here is 0x95 Packet too large (`max_packet_size`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from capture_helpers import Tcpdump
from conftest import Broker, require_tool, start_broker

from sniffer.synth import mqtt_encode as enc

# MQTT control packet types
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

S = TypeVar("S")

TIMEOUT = 10.0  # seconds any single wait may take before the scenario fails loudly


def wait_for(cond: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `cond` until true; a scenario never sleeps blindly where a condition can be awaited."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- what each scenario returns --------------------------------------------------------------------


@dataclass
class Scenario:
    pcap: Path
    port: int  # the broker's port: packets to it are client -> broker


@dataclass
class Takeover(Scenario):
    client_id: str
    first_port: int  # client port of the connection the broker closes
    second_port: int  # the one that takes the session over


@dataclass
class KeepAliveExpiry(Scenario):
    client_id: str
    client_port: int
    keepalive: int
    closed_after: float  # seconds from the CONNACK to the broker's close, as the client saw it


@dataclass
class Unacknowledged(Scenario):
    subscriber_id: str
    subscriber_port: int  # the raw client that never sends PUBACK
    publisher_id: str
    publisher_port: int
    topic: str
    msgids: list[int]  # packet ids of the QoS 1 PUBLISHes the broker sent to the subscriber


@dataclass
class Qos2Flow(Scenario):
    publisher_id: str
    publisher_port: int
    subscriber_id: str
    subscriber_port: int
    topic: str
    count: int  # QoS 2 messages, each a full flow client -> broker and broker -> subscriber


@dataclass
class FanOut(Scenario):
    publisher_id: str
    publisher_port: int
    subscriber_ids: list[str]
    subscriber_ports: list[int]
    topic: str  # one QoS 0 then one QoS 1 message on it, each delivered to every subscriber
    payloads: dict[int, bytes]  # qos -> payload
    twin_ids: list[str]  # two publishers sending the same payload on the same topic at once
    twin_ports: list[int]
    twin_topic: str
    twin_payload: bytes


@dataclass
class Refused(Scenario):
    username: str
    accepted_port: int  # right password: CONNACK 0
    refused: dict[int, tuple[str, int, int]]  # client port -> (client id, protocol version, CONNACK code)


@dataclass
class V5Disconnect(Scenario):
    client_id: str
    client_port: int
    max_packet_size: int
    reason: int  # the DISCONNECT reason code paho reported (0x95 Packet too large)


@dataclass
class Misbehaving(Scenario):
    client_id: str
    client_port: int
    retransmitted_id: int  # QoS 1 PUBLISH sent twice, identical, no DUP, before the PUBACK
    reused_qos1_id: int  # two different QoS 1 PUBLISHes with one id, both before the PUBACK
    reused_qos2_id: int  # a second QoS 2 PUBLISH with the id of one still awaiting PUBREL
    subscriber_port: int
    received: list[tuple[int, int]]  # (msgtype, msgid) the raw client got back, in order
    delivered: list[tuple[str, bytes]]  # what a subscriber to every topic received


@dataclass
class ProtocolViolations(Scenario):
    client_id: str
    client_port: int
    topic: str  # the QoS 0 PUBLISH sent before the CONNACK


@dataclass
class ManyConnections(Scenario):
    count: int
    topic: str
    client_ids: list[str] = field(repr=False)
    client_ports: list[int] = field(repr=False)  # in order; lo reuses TIME_WAIT ports, so some repeat


# -- capture plumbing ------------------------------------------------------------------------------


def _pcap_packets(path: Path) -> list[tuple[int, int, int, int]]:
    """(src port, dst port, TCP flags, payload length) of each whole record tcpdump has written so far."""
    raw = path.read_bytes()
    out: list[tuple[int, int, int, int]] = []
    if len(raw) < 24:
        return out
    endian = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack_from(endian + "I", raw, off + 8)[0]
        data = raw[off + 16 : off + 16 + incl]
        if len(data) < incl:  # tcpdump is mid-write
            break
        off += 16 + incl
        ihl = (data[14] & 0x0F) * 4  # Ethernet (tcpdump on lo), IPv4
        tcp = 14 + ihl
        sport, dport = struct.unpack_from(">HH", data, tcp)
        hlen = (data[tcp + 12] >> 4) * 4
        total = struct.unpack_from(">H", data, 16)[0]
        out.append((sport, dport, data[tcp + 13], total - ihl - hlen))
    return out


FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def _open_connections(path: Path, port: int) -> list[int]:
    """Client ports of the connections in the capture that have not ended: neither a RST nor a FIN each
    way (the last ACK is not awaited: in a 200-connection run one was never captured at all).

    A client SYN starts a new connection even on a port seen before: Linux reuses a TIME_WAIT port
    on lo for a new connect (net.ipv4.tcp_tw_reuse), so 200 quick connections share ports."""
    conns: dict[int, list[list[tuple[bool, int]]]] = defaultdict(list)  # client port -> [(from broker, flags)]
    for sport, dport, flags, _ in _pcap_packets(path):
        from_broker = sport == port
        same_port = conns[dport if from_broker else sport]
        if not same_port or (flags & SYN and not flags & ACK):
            same_port.append([])
        same_port[-1].append((from_broker, flags))
    return [
        cport
        for cport, cs in conns.items()
        for pkts in cs
        if pkts[0][1] & SYN  # begun before the capture: not the scenario's
        and not any(f & RST for _b, f in pkts)
        and len({b for b, f in pkts if f & FIN}) < 2
    ]


def _wait_all_closed(path: Path, port: int, what: str) -> None:
    """Until every connection in the capture has ended (and there is one)."""
    try:
        wait_for(lambda: path.stat().st_size > 24 and not _open_connections(path, port), what)
    except AssertionError as e:
        raise AssertionError(f"{e}; still open in the capture: client ports {_open_connections(path, port)}") from None


def _client_segments(path: Path, port: int, client_port: int) -> int:
    """Data-carrying segments the client on `client_port` has sent so far."""
    return sum(1 for s, d, _f, n in _pcap_packets(path) if s == client_port and d == port and n > 0)


class CaptureLost(AssertionError):
    """tcpdump dropped packets: the scenario is run once more (a busy machine, not a defect)."""


def _retried(scenario: Callable[..., S]) -> Callable[..., S]:
    @functools.wraps(scenario)
    def run(workdir: Path, *args: object, **kwargs: object) -> S:
        try:
            return scenario(workdir, *args, **kwargs)
        except CaptureLost:
            again = workdir / "again"
            again.mkdir()
            return scenario(again, *args, **kwargs)

    return run


def _idle(port: int) -> bool:
    """No TCP connection to `port` is still open or closing (TIME_WAIT aside), from /proc/net/tcp."""
    hexport = f"{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, state = cols[1].split(":")[1], cols[2].split(":")[1], cols[3]
        if hexport in (local, remote) and state not in ("0A", "06"):  # LISTEN, TIME_WAIT
            return False
    return True


@contextlib.contextmanager
def _live(workdir: Path, name: str, extra_conf: str = "", users: dict[str, str] | None = None) -> Iterator[Broker]:
    """A fresh broker captured by tcpdump on lo; on a normal exit waits until every connection closed."""
    with start_broker(workdir, extra_conf, users) as broker:
        # start_broker's readiness probe: mosquitto closes it a little later; its FIN is not ours to capture
        wait_for(lambda: _idle(broker.port), "the broker's readiness probe closed")
        # With capture_helpers' snaplen 262144 and 8 MB ring, tcpdump (immediate mode) dropped 8 to 54 of
        # the 200-connection run's 5200 packets when it lost the CPU; a 65549-byte snaplen (still a whole
        # lo frame) and a 32 MB ring, with that run paced, made 25 runs in a row lossless.
        dump = Tcpdump("lo", f"tcp port {broker.port}", workdir / f"{name}.pcap", extra=("-s", "65549", "-B", "32768"))
        try:
            yield broker
            _wait_all_closed(dump.path, broker.port, f"every {name} connection closed in the capture")
        finally:
            with contextlib.suppress(ProcessLookupError):
                broker.proc.send_signal(signal.SIGCONT)  # in case a scenario failed while it was stopped
            dump.stop()
            # A capture with holes would make a session test fail for the wrong reason: say so (this
            # replaces a failure the hole may have caused, which stays attached as the context).
            dropped = re.search(r"(\d+) packets? dropped by kernel", dump.stderr)
            if dropped is None or dropped.group(1) != "0":
                raise CaptureLost(f"tcpdump lost packets of the {name} scenario: {dump.stderr.strip()}")


@contextlib.contextmanager
def _broker_stopped(broker: Broker) -> Iterator[None]:
    """The broker process frozen (the kernel still ACKs), so what a client sends meanwhile is all on the
    wire before any answer: the only way to order frames deterministically on lo."""
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        broker.proc.send_signal(signal.SIGCONT)


# -- clients ---------------------------------------------------------------------------------------


class RawClient:
    """A plain TCP socket speaking just enough MQTT to misbehave on purpose."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one send, one segment
        self.port: int = self.sock.getsockname()[1]
        self._buf = b""

    def send(self, pdu: bytes) -> None:
        self.sock.sendall(pdu)

    def recv_pdu(self, timeout: float = TIMEOUT) -> tuple[int, int, bytes] | None:
        """(type, flags, body) of the next PDU, or None when the broker closed the connection."""
        self.sock.settimeout(timeout)
        while True:
            if len(self._buf) >= 2:
                mult, n, i = 1, 0, 1
                while i < len(self._buf) and i <= 4:
                    b = self._buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        if len(self._buf) >= i + n:
                            head, body = self._buf[0], self._buf[i : i + n]
                            self._buf = self._buf[i + n :]
                            return head >> 4, head & 0x0F, body
                        break
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk

    def expect(self, msgtype: int) -> bytes:
        pdu = self.recv_pdu()
        if pdu is None or pdu[0] != msgtype:
            raise AssertionError(f"expected MQTT type {msgtype} on port {self.port}, got {pdu!r}")
        return pdu[2]

    def connect(self, client_id: str, keepalive: int = 60, version: int = 4) -> None:
        self.send(enc.connect(client_id, version=version, keepalive=keepalive))
        body = self.expect(CONNACK)
        if body[1] != 0:
            raise AssertionError(f"CONNACK refused {client_id}: {body!r}")

    def wait_closed(self, timeout: float = TIMEOUT) -> None:
        """Read until the broker closes (anything it still sends is discarded)."""
        deadline = time.monotonic() + timeout
        while self.recv_pdu(max(0.01, deadline - time.monotonic())) is not None:
            if time.monotonic() > deadline:
                raise AssertionError(f"broker did not close port {self.port}")

    def close(self) -> None:
        self.sock.close()


def _msgid(body: bytes, qos_flags: int) -> int:
    """Packet id of a received PUBLISH body (after the topic)."""
    tlen = struct.unpack_from(">H", body)[0]
    return struct.unpack_from(">H", body, 2 + tlen)[0] if qos_flags & 0x06 else 0


class PahoClient:
    """A paho-mqtt client on its own network thread that never reconnects (a takeover must stay one)."""

    def __init__(self, port: int, client_id: str, v5: bool = False, auth: tuple[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        if auth is not None:
            self.c.username_pw_set(*auth)
        self.client_id = client_id
        self.got: list[tuple[str, bytes, int]] = []
        self.acked: set[int] = set()
        self.connack: int | None = None
        self.disconnect_reason: int | None = None
        self.disconnected = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, bytes(m.payload), m.qos))
        self.c.on_subscribe = lambda _c, _u, mid, *_: self.acked.add(mid)
        self.c.on_disconnect = self._on_disconnect
        self.c.connect("127.0.0.1", port, keepalive=60)
        self.port: int = self.c.socket().getsockname()[1]
        self.c.loop_start()
        wait_for(lambda: self.connack is not None, f"{client_id} CONNACK")
        if self.connack != 0:
            raise AssertionError(f"{client_id} refused: {self.connack}")

    def _on_connect(self, _c, _u, _flags, reason, _props) -> None:
        self.connack = reason.value

    def _on_disconnect(self, _c, _u, _flags, reason, _props) -> None:
        self.disconnect_reason = reason.value
        self.disconnected.set()

    def subscribe(self, topic: str, qos: int) -> None:
        _, mid = self.c.subscribe(topic, qos)
        wait_for(lambda: mid in self.acked, f"{self.client_id} SUBACK")

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.c.publish(topic, payload, qos=qos).wait_for_publish(TIMEOUT)

    def wait_messages(self, n: int) -> None:
        wait_for(lambda: len(self.got) >= n, f"{self.client_id} receiving {n} messages")

    def disconnect(self) -> None:
        if not self.disconnected.is_set():
            self.c.disconnect()
            self.disconnected.wait(TIMEOUT)
        self.c.loop_stop()


# -- the scenarios ---------------------------------------------------------------------------------


@_retried
def takeover(workdir: Path) -> Takeover:
    """Two paho clients with one client id: the second CONNECT makes mosquitto close the first."""
    cid = "twin-device"
    with _live(workdir, "takeover") as broker:
        first = PahoClient(broker.port, cid)
        second = PahoClient(broker.port, cid)
        if not first.disconnected.wait(TIMEOUT):
            raise AssertionError("mosquitto did not close the taken-over connection")
        first.c.loop_stop()
        second.disconnect()
    return Takeover(broker_pcap(workdir, "takeover"), broker.port, cid, first.port, second.port)


@_retried
def keepalive_expiry(workdir: Path, keepalive: int = 2) -> KeepAliveExpiry:
    """A raw client CONNECTs with a short keep-alive and then stays silent until mosquitto closes it."""
    cid = "silent-sensor"
    with _live(workdir, "keepalive") as broker:
        client = RawClient(broker.port)
        client.connect(cid, keepalive=keepalive)
        start = time.monotonic()
        client.wait_closed(timeout=1.5 * keepalive + 6)
        closed_after = time.monotonic() - start
        client.close()
    return KeepAliveExpiry(broker_pcap(workdir, "keepalive"), broker.port, cid, client.port, keepalive, closed_after)


@_retried
def unacknowledged(workdir: Path, count: int = 3) -> Unacknowledged:
    """A raw subscriber takes QoS 1 messages and never PUBACKs them, then DISCONNECTs with them in flight."""
    sub_id, pub_id, topic = "lazy-subscriber", "eager-publisher", "unacked/data"
    with _live(workdir, "unacked") as broker:
        sub = RawClient(broker.port)
        sub.connect(sub_id)
        sub.send(enc.subscribe(1, [(topic, 1)]))
        sub.expect(SUBACK)
        pub = PahoClient(broker.port, pub_id)
        for i in range(count):
            pub.publish(topic, f"reading {i}".encode(), 1)
        msgids = []
        for _ in range(count):
            pdu = sub.recv_pdu()
            if pdu is None or pdu[0] != PUBLISH:
                raise AssertionError(f"subscriber expected PUBLISH, got {pdu!r}")
            msgids.append(_msgid(pdu[2], pdu[1]))
        sub.send(enc.disconnect())
        sub.wait_closed()
        sub.close()
        pub.disconnect()
    return Unacknowledged(
        broker_pcap(workdir, "unacked"), broker.port, sub_id, sub.port, pub_id, pub.port, topic, msgids
    )


@_retried
def qos2_flow(workdir: Path, count: int = 2) -> Qos2Flow:
    """QoS 2 end to end: PUBLISH/PUBREC/PUBREL/PUBCOMP publisher -> broker and broker -> subscriber."""
    pub_id, sub_id, topic = "qos2-publisher", "qos2-subscriber", "exactly/once"
    with _live(workdir, "qos2") as broker:
        sub = PahoClient(broker.port, sub_id)
        sub.subscribe(topic, 2)
        pub = PahoClient(broker.port, pub_id)
        for i in range(count):
            pub.publish(topic, f"once {i}".encode(), 2)
        sub.wait_messages(count)  # paho hands a QoS 2 message over on PUBREL, just before its PUBCOMP
        pub.disconnect()
        sub.disconnect()
    return Qos2Flow(broker_pcap(workdir, "qos2"), broker.port, pub_id, pub.port, sub_id, sub.port, topic, count)


@_retried
def fan_out(workdir: Path) -> FanOut:
    """Three subscribers receive one QoS 0 and one QoS 1 publication; then two publishers send the same
    payload on the same topic at the same moment (a delivery that cannot be told apart)."""
    topic, twin_topic, twin_payload = "fan/out", "fan/twin", b'{"same":true}'
    payloads = {0: b"to everyone, at most once", 1: b"to everyone, at least once"}
    with _live(workdir, "fanout") as broker:
        subs = [PahoClient(broker.port, f"fan-sub-{i}") for i in range(3)]
        for s in subs:
            s.subscribe("fan/#", 1)
        pub = PahoClient(broker.port, "fan-publisher")
        for qos, payload in payloads.items():
            pub.publish(topic, payload, qos)
        for s in subs:
            s.wait_messages(2)
        twins = [PahoClient(broker.port, f"fan-twin-{i}") for i in range(2)]
        pcap = broker_pcap(workdir, "fanout")
        sent = [_client_segments(pcap, broker.port, t.port) for t in twins]
        # Both PUBLISHes on the wire before the broker delivers either: nothing but the publisher's
        # identity tells the deliveries apart, and the capture cannot show that.
        with _broker_stopped(broker):
            infos = [t.c.publish(twin_topic, twin_payload, qos=1) for t in twins]
            wait_for(
                lambda: all(_client_segments(pcap, broker.port, t.port) > n for t, n in zip(twins, sent, strict=True)),
                "both twin PUBLISHes captured",
            )
        for info in infos:
            info.wait_for_publish(TIMEOUT)
        for s in subs:
            s.wait_messages(4)
        for c in [pub, *twins, *subs]:
            c.disconnect()
    return FanOut(
        pcap,
        broker.port,
        pub.client_id,
        pub.port,
        [s.client_id for s in subs],
        [s.port for s in subs],
        topic,
        payloads,
        [t.client_id for t in twins],
        [t.port for t in twins],
        twin_topic,
        twin_payload,
    )


@_retried
def refused(workdir: Path) -> Refused:
    """`allow_anonymous false` with a password file: one right password (paho), then a wrong one in
    MQTT 3.1.1 and in MQTT 5 (raw sockets, so the code recorded is the byte on the wire); mosquitto
    refuses the CONNACK and closes."""
    user, password = "alice", "right-horse"
    with _live(workdir, "refused", users={user: password}) as broker:
        good = PahoClient(broker.port, "with-password", auth=(user, password))
        good.disconnect()
        outcome: dict[int, tuple[str, int, int]] = {}
        for version in (4, 5):
            bad, cid = RawClient(broker.port), f"wrong-password-v{version}"
            bad.send(enc.connect(cid, version=version, username=user, password="wrong"))
            outcome[bad.port] = (cid, version, bad.expect(CONNACK)[1])
            bad.wait_closed()
            bad.close()
    return Refused(broker_pcap(workdir, "refused"), broker.port, user, good.port, outcome)


@_retried
def v5_disconnect(workdir: Path, max_packet_size: int = 1000) -> V5Disconnect:
    """An MQTT 5 client publishes more than `max_packet_size`: mosquitto sends DISCONNECT 0x95 and closes."""
    cid = "oversize-v5"
    with _live(workdir, "v5disconnect", extra_conf=f"max_packet_size {max_packet_size}\n") as broker:
        client = PahoClient(broker.port, cid, v5=True)
        client.c.publish("big/blob", b"\x00" * (2 * max_packet_size), qos=0)
        if not client.disconnected.wait(TIMEOUT):
            raise AssertionError("mosquitto did not disconnect the oversize publisher")
        client.c.loop_stop()
        assert client.disconnect_reason is not None
    return V5Disconnect(
        broker_pcap(workdir, "v5disconnect"), broker.port, cid, client.port, max_packet_size, client.disconnect_reason
    )


@_retried
def misbehaving(workdir: Path) -> Misbehaving:
    """A raw client retransmits a QoS 1 PUBLISH without DUP and reuses packet ids while they are in flight
    (QoS 1 with the broker frozen so both PUBLISHes precede the PUBACK; QoS 2 before the PUBREL)."""
    cid = "sloppy-client"
    retx, reuse1, reuse2 = 1, 2, 3
    with _live(workdir, "misbehaving") as broker:
        sub = PahoClient(broker.port, "retx-watcher")
        sub.subscribe("retx/#", 1)
        client = RawClient(broker.port)
        client.connect(cid)
        pcap = broker_pcap(workdir, "misbehaving")
        sent = _client_segments(pcap, broker.port, client.port)
        with _broker_stopped(broker):
            client.send(enc.publish("retx/a", b"same again", qos=1, msgid=retx))
            client.send(enc.publish("retx/a", b"same again", qos=1, msgid=retx))  # no DUP flag
            client.send(enc.publish("retx/b", b"first of two", qos=1, msgid=reuse1))
            client.send(enc.publish("retx/c", b"second of two", qos=1, msgid=reuse1))
            wait_for(lambda: _client_segments(pcap, broker.port, client.port) >= sent + 4, "4 PUBLISHes captured")
        received: list[tuple[int, int]] = []
        for _ in range(4):
            body = client.expect(PUBACK)
            received.append((PUBACK, struct.unpack_from(">H", body)[0]))
        client.send(enc.publish("retx/d", b"exactly once?", qos=2, msgid=reuse2))
        received.append((PUBREC, struct.unpack_from(">H", client.expect(PUBREC))[0]))
        client.send(enc.publish("retx/e", b"another message", qos=2, msgid=reuse2))  # id awaiting PUBREL
        received.append((PUBREC, struct.unpack_from(">H", client.expect(PUBREC))[0]))
        client.send(enc.pubrel(reuse2))
        received.append((PUBCOMP, struct.unpack_from(">H", client.expect(PUBCOMP))[0]))
        client.send(enc.disconnect())
        client.wait_closed()
        client.close()
        # Whatever mosquitto delivers (2.0.11: the second QoS 2 message replaces the first, which is never
        # delivered): the QoS 2 delivery, sent on the PUBREL, is the last one.
        wait_for(lambda: any(t in ("retx/d", "retx/e") for t, _p, _q in sub.got), "the QoS 2 delivery")
        sub.disconnect()
    return Misbehaving(
        pcap,
        broker.port,
        cid,
        client.port,
        retx,
        reuse1,
        reuse2,
        sub.port,
        received,
        [(t, p) for t, p, _q in sub.got],
    )


@_retried
def protocol_violations(workdir: Path) -> ProtocolViolations:
    """A raw client sends a PUBLISH before its CONNACK arrives, then a second CONNECT on the same
    connection (mosquitto closes it as a protocol error)."""
    cid, topic = "impatient-client", "early/bird"
    with _live(workdir, "violations") as broker:
        pcap = broker_pcap(workdir, "violations")
        with _broker_stopped(broker):
            client = RawClient(broker.port)
            client.send(enc.connect(cid))
            client.send(enc.publish(topic, b"before CONNACK"))
            wait_for(lambda: _client_segments(pcap, broker.port, client.port) >= 2, "CONNECT and PUBLISH captured")
        client.expect(CONNACK)
        client.send(enc.connect(cid))
        client.wait_closed()
        client.close()
    return ProtocolViolations(pcap, broker.port, cid, client.port, topic)


@_retried
def many_connections(workdir: Path, count: int = 200) -> ManyConnections:
    """`count` short-lived connections one after the other: CONNECT, PUBLISH QoS 1, DISCONNECT."""
    topic = "churn/reading"
    ports: list[int] = []
    with _live(workdir, "many") as broker:
        pcap = broker_pcap(workdir, "many")
        for i in range(count):
            c = RawClient(broker.port)
            c.connect(f"churn-{i}")  # the ids ManyConnections.client_ids lists
            c.send(enc.publish(topic, f"{i}".encode(), qos=1, msgid=1))
            c.expect(PUBACK)
            c.send(enc.disconnect())
            c.wait_closed()
            c.close()
            ports.append(c.port)
            if i % 10 == 9:  # let tcpdump catch up: ~130 packets (260 copies on lo) in flight at most
                _wait_all_closed(pcap, broker.port, "the capture catching up")
    return ManyConnections(pcap, broker.port, count, topic, [f"churn-{i}" for i in range(count)], ports)


def broker_pcap(workdir: Path, name: str) -> Path:
    return workdir / f"{name}.pcap"


# -- tshark as the reference -----------------------------------------------------------------------


@dataclass
class Pdu:
    """One MQTT PDU as tshark decodes it (a frame may carry several)."""

    frame: int
    stream: int
    srcport: int
    dstport: int
    epoch: Decimal  # frame.time_epoch, exactly as tshark prints it
    msgtype: int
    msgid: int | None
    qos: int
    dup: bool
    fields: dict[str, object]  # every other mqtt.* field of this PDU, flattened


def _flatten(tree: dict, out: dict[str, object]) -> None:
    """mqtt.* fields of one PDU's tree at any depth; a field that occurs several times (a SUBSCRIBE's
    topics) keeps tshark's list."""
    for k, v in tree.items():
        if isinstance(v, dict):
            _flatten(v, out)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for sub in v:
                _flatten(sub, out)
        elif k.startswith("mqtt."):
            out.setdefault(k, v)


def broker_port_of(pcap: Path) -> int:
    """The port the first SYN of the capture goes to."""
    for _s, dport, flags, _n in _pcap_packets(pcap):
        if flags & SYN and not flags & ACK:
            return dport
    raise AssertionError(f"no SYN in {pcap}")


def tshark_pdus(pcap: Path, port: int | None = None) -> list[Pdu]:
    """Every MQTT PDU in `pcap`, decoded by tshark (with the broker's port decoded as MQTT)."""
    port = port if port is not None else broker_port_of(pcap)
    res = subprocess.run(
        # --no-duplicate-keys: a frame with several PDUs has several "mqtt" keys, which json would merge
        [require_tool("tshark"), "-r", str(pcap), "-d", f"tcp.port=={port},mqtt", "-T", "json", "--no-duplicate-keys"]
        + ["-J", "frame tcp mqtt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if res.returncode != 0:
        raise AssertionError(f"tshark failed on {pcap}: {res.stderr}")
    out: list[Pdu] = []
    for pkt in json.loads(res.stdout):
        layers = pkt["_source"]["layers"]
        mqtt = layers.get("mqtt")
        if mqtt is None:
            continue
        frame, tcp = layers["frame"], layers["tcp"]
        for m in mqtt if isinstance(mqtt, list) else [mqtt]:
            flat: dict[str, object] = {}
            _flatten(m, flat)
            msgid = flat.get("mqtt.msgid")
            out.append(
                Pdu(
                    frame=int(frame["frame.number"]),
                    stream=int(tcp["tcp.stream"]),
                    srcport=int(tcp["tcp.srcport"]),
                    dstport=int(tcp["tcp.dstport"]),
                    epoch=Decimal(frame["frame.time_epoch"]),
                    msgtype=int(str(flat["mqtt.msgtype"])),
                    msgid=int(str(msgid)) if msgid is not None else None,
                    qos=int(str(flat.get("mqtt.qos", "0"))),
                    dup=str(flat.get("mqtt.dupflag", "0")) in ("1", "True"),
                    fields=flat,
                )
            )
    return out


# request type -> response type; a PUBLISH's response depends on its QoS (none for QoS 0)
_RESPONSE = {CONNECT: CONNACK, PUBREL: PUBCOMP, SUBSCRIBE: SUBACK, UNSUBSCRIBE: UNSUBACK, PINGREQ: PINGRESP}
_PUBLISH_RESPONSE = {1: PUBACK, 2: PUBREC}
_BY_ID = {PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE}  # matched by packet id; the others by order alone


def pairs_from_tshark(pcap: Path, port: int | None = None) -> list[tuple[int, int, float]]:
    """(request frame, response frame, response epoch - request epoch) for every answered request.

    Computed from tshark's tcp.stream, ports (direction), mqtt.msgtype, mqtt.msgid and
    frame.time_epoch alone: CONNECT->CONNACK, PUBLISH QoS 1->PUBACK, PUBLISH QoS 2->PUBREC,
    PUBREL->PUBCOMP, SUBSCRIBE->SUBACK, UNSUBSCRIBE->UNSUBACK, PINGREQ->PINGRESP. A response
    answers the oldest unanswered request of its kind (same packet id where there is one) that
    travelled the other way on the same connection; a response nothing asked for is left out.
    The time is the exact difference of tshark's epochs, then made a float."""
    port = port if port is not None else broker_port_of(pcap)
    pending: dict[tuple[int, bool, int, int | None], deque[Pdu]] = defaultdict(deque)
    pairs: list[tuple[int, int, float]] = []
    for p in tshark_pdus(pcap, port):
        to_broker = p.dstport == port
        want = _PUBLISH_RESPONSE.get(p.qos) if p.msgtype == PUBLISH else _RESPONSE.get(p.msgtype)
        if want is not None:
            key = p.msgid if p.msgtype in _BY_ID else None
            pending[(p.stream, to_broker, want, key)].append(p)
            continue
        key = p.msgid if p.msgtype in (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK) else None
        queue = pending.get((p.stream, not to_broker, p.msgtype, key))
        if queue:
            req = queue.popleft()
            pairs.append((req.frame, p.frame, float(p.epoch - req.epoch)))
    return pairs
