"""Messages per second over time and the distribution of acknowledgement times: the Graphs view's data.

`RateStat` is fed one `Frame` at a time, like the `-z` statistics (sniffer.stats), so the UI can feed
it from the store and a headless output could feed it later. It counts MQTT PDUs per whole second of
capture time (`frame.time_relative`), all of them and PUBLISH only, optionally only those of one topic
(PUBLISH) or one client (`mqtt.client`). The acknowledgement times are the `mqtt.time` of the
responses listed in ACKS (those only), kept in a `LatencyStat`'s columns (the `-z mqtt,latency` aggregator's).
"""

from __future__ import annotations

from array import array
from typing import Final

from sniffer.mqtt import constants as C
from sniffer.pipeline import Frame
from sniffer.stats.latency import LatencyStat
from sniffer.stats.layout import block, median, percentile, secs, table, text

# the responses whose mqtt.time is an acknowledgement time (the Graphs view's histogram)
ACKS: Final = (C.CONNACK, C.PUBACK, C.PUBREC, C.PUBCOMP, C.SUBACK, C.PINGRESP)
MAX_SECONDS: Final = 366 * 86400  # a capture longer than a year (or a stamp far off) is not binned past it


class RateStat:
    """PDUs per second (all / PUBLISH only) and the acknowledgement times, optionally of one topic or client."""

    def __init__(self, topic: str | None = None, client: str | None = None) -> None:
        self.topic = topic
        self.client = client
        self.all = array("I")  # PDUs in second k of the capture
        self.publish = array("I")
        self.latency = LatencyStat()

    @staticmethod
    def _bin(counts: array, k: int) -> None:
        if k >= len(counts):
            counts.extend(array("I", bytes(4 * (k + 1 - len(counts)))))
        counts[k] += 1

    # The two things counted, for frame() and for a feeder that reads them from elsewhere (the UI
    # reads a stored row's PDU types and topics from the store's columns: sniffer.ui.graphs).
    def pdu(self, rel_ts: float, msgtype: int) -> None:
        """Count one PDU of type `msgtype` at `rel_ts` seconds into the capture (already in scope)."""
        k = min(int(rel_ts), MAX_SECONDS) if rel_ts > 0 else 0  # (nan, a stamp before the first: second 0)
        self._bin(self.all, k)
        if msgtype == C.PUBLISH:
            self._bin(self.publish, k)

    def ack(self, msgtype: int, time: float) -> None:
        """Keep the acknowledgement time (mqtt.time) of a response of type `msgtype` (ACKS only)."""
        if msgtype in ACKS:
            lat = self.latency
            lat.times[lat.row_of[msgtype]].append(time)

    def frame(self, f: Frame) -> None:
        pdus = f.pdus
        if not pdus:  # most frames (TCP's own): the session model feeds every one, live
            return
        rel = f.rel_ts
        client, topic = self.client, self.topic
        if client is None and topic is None:
            # everything counted (the session model's stat, fed every frame): pdu() and ack() inlined
            k = min(int(rel), MAX_SECONDS) if rel > 0 else 0
            counts, times, row_of = self.all, self.latency.times, self.latency.row_of
            for p in pdus:
                t = p.msgtype
                if k < len(counts):
                    counts[k] += 1
                else:
                    self._bin(counts, k)
                if t == C.PUBLISH:
                    self._bin(self.publish, k)
                a = p.ann
                if a is not None and a.time >= 0 and t in ACKS:
                    times[row_of[t]].append(a.time)
            return
        for p in pdus:
            a = p.ann
            if client is not None and (a is None or a.client != client):
                continue
            if a is not None and a.time >= 0:
                # the acknowledgement times of everything (or of the client): a response does not
                # carry its request's topic, so a topic does not narrow them
                self.ack(p.msgtype, a.time)
            if topic is None or (p.msgtype == C.PUBLISH and p.topic == topic):
                self.pdu(rel, p.msgtype)

    # -- data ----------------------------------------------------------------------------------
    def per_second(self, publish_only: bool = False) -> list[int]:
        """Counts per second from the capture's first frame (second 0) to the last one with a PDU."""
        if not publish_only:
            return list(self.all)
        return list(self.publish) + [0] * (len(self.all) - len(self.publish))

    def ack_times(self, sort: bool = True) -> list[float]:
        """The acknowledgement times (seconds, mqtt.time of the ACKS responses), sorted unless `sort` is
        False (a caller holding a lock sorts its copy after releasing it)."""
        lat = self.latency
        out: list[float] = []
        for t in ACKS:
            out.extend(lat.times[lat.row_of[t]])
        if sort:
            out.sort()
        return out

    def render(self, duration: float) -> str:
        times = self.ack_times()
        scope = "all" if self.topic is None and self.client is None else ""
        if self.topic is not None:
            scope = f"topic {text(self.topic)}"
        if self.client is not None:
            scope = f"client {text(self.client)}"
        rows = [
            [str(k), str(n), str(self.publish[k] if k < len(self.publish) else 0)] for k, n in enumerate(self.all) if n
        ]
        lines = table(["Second", "PDUs", "PUBLISH"], rows, align="")
        lines.append(
            f"Acknowledgement times: {len(times)}, median {secs(median(times))}, p95 {secs(percentile(times, 95))}"
        )
        return block(f"MQTT Messages per Second ({scope})", lines)
