"""One line per frame straight from the dissector, for reading a file headlessly.

The summary (`mqttsniff -r FILE`) and `-T fields` print one line per frame and keep
nothing. `SummaryDissector` runs the very same `Dissector.frame()` (link/IP/TCP parse,
reassembly, MQTT framing) but hands the row's fields to a formatter instead of `Frame`,
so frame() returns the line without a Frame, its lazy properties or a Printer call per
frame; the Source, Destination and Protocol columns are formatted once per stream direction.
sniffer.driver runs it (its LineSink writes the lines a batch at a time).
"""

from __future__ import annotations

from collections.abc import Iterable

from sniffer.mqtt.decoder import PDU
from sniffer.net.frame import addr_str
from sniffer.net.reassembly import Seg
from sniffer.output.text import SUMMARY_MID, summary_head
from sniffer.pipeline import DEFAULT_MAX_BUFFERED, DEFAULT_MAX_PDU, DEFAULT_PORTS, RowDissector, frame_info


class SummaryDissector(RowDissector[str]):
    """A Dissector whose frame() returns the tshark summary line of the frame (a str)."""

    def __init__(
        self,
        mqtt_ports: Iterable[int] = DEFAULT_PORTS,
        max_pdu: int = DEFAULT_MAX_PDU,
        detect: bool = True,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        sessions: bool = False,
    ) -> None:
        # The summary line shows nothing of the session layer: it runs only when asked for.
        super().__init__(mqtt_ports, max_pdu, detect, max_buffered, sessions)
        # 4 * stream + 2 * direction + (MQTT or not) -> Source, Destination and Protocol columns
        self._mids: dict[int, str] = {}

    def _row(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> str:
        """Frame's arguments in, summary_line() of that Frame out."""
        mid: str | None
        if seg is None or addrs is None:
            mid = SUMMARY_MID % (src, dst, proto)
        else:
            key = 4 * stream + 2 * seg.direction + (proto == "MQTT")
            mid = self._mids.get(key)
            # a TLS or WebSocket frame's protocol varies (TLSv1.3, HTTP, WebSocket): only MQTT's is cached
            varies = proto != "MQTT" and (seg.tls is not None or seg.ws is not None)
            if mid is None or varies:
                src, dst = addr_str(addrs[0], addrs[1]), addr_str(addrs[0], addrs[2])
                mid = SUMMARY_MID % (src, dst, proto)
                if not varies:
                    self._mids[key] = mid
        if not isinstance(info, str):
            info = frame_info(info, pdus, seg, toff, data, linktype)
        return f"{summary_head(number, rel_ts)}{mid}{orig_len} {info}"
