"""`-z mqtt,latency`: per request type, how long the answer took (`mqtt.time` of the responses).

Each response the session tracker paired carries `mqtt.time` (seconds since its request); the
row is chosen by the response's type, and a QoS 2 flow also counts its whole time (PUBLISH to
PUBCOMP, `mqtt.flow_time`). Median, p95 and p99 are nearest-rank percentiles of the kept times
(the median of an even count is the mean of the middle two).
"""

from __future__ import annotations

from array import array

from sniffer.mqtt import constants as C
from sniffer.pipeline import Frame
from sniffer.stats.layout import block, median, percentile, secs, table

# (row title, response type that carries the time); the QoS 2 whole flow is PUBCOMP's flow_time
ROWS = (
    ("CONNECT", C.CONNACK),
    ("PUBLISH QoS 1", C.PUBACK),
    ("PUBLISH QoS 2 (PUBREC)", C.PUBREC),
    ("PUBLISH QoS 2 (whole flow)", -1),
    ("PUBREL", C.PUBCOMP),
    ("SUBSCRIBE", C.SUBACK),
    ("UNSUBSCRIBE", C.UNSUBACK),
    ("PINGREQ", C.PINGRESP),
    ("AUTH", C.AUTH),
)
FLOW = 3  # index of the whole-flow row


class LatencyStat:
    def __init__(self) -> None:
        self.times = [array("d") for _ in ROWS]
        self.row_of = {t: i for i, (_title, t) in enumerate(ROWS) if t >= 0}

    def frame(self, f: Frame) -> None:
        for p in f.pdus:
            a = p.ann
            if a is None or a.time < 0:
                continue
            i = self.row_of.get(p.msgtype)
            if i is not None:
                self.times[i].append(a.time)
            if a.flow_time >= 0:
                self.times[FLOW].append(a.flow_time)

    def render(self, duration: float) -> str:
        rows = []
        for (title, _t), times in zip(ROWS, self.times, strict=True):
            v = sorted(times)
            rows.append([
                title, str(len(v)), secs(v[0] if v else None), secs(median(v)), secs(percentile(v, 95)),
                secs(percentile(v, 99)), secs(v[-1] if v else None),
            ])  # fmt: skip
        lines = table(["Request", "Count", "Min", "Median", "p95", "p99", "Max"], rows)
        return block("MQTT Response Times (seconds, request to response: mqtt.time)", lines)
