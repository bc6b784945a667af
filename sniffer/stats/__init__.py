"""Statistics after the packets, like tshark's `-z`: a sink that every output feeds its frames to.

`parse(["mqtt,clients", "expert"])` checks the names (`StatsError` lists the valid ones) and
returns a `StatsSink`; `sink.frame(frame)` takes each dissected `Frame` (after the session
tracker annotated it), `sink.report(out)` prints the blocks in the order asked. The statistics
read only what the Frame and its PDUs' annotations (`pdu.ann`) say, so they work on any path
that makes Frames: files, standard input, live capture, the second pass of `-2`.
"""

from __future__ import annotations

from typing import Any, Protocol, TextIO

from sniffer.pipeline import Frame


class Stat(Protocol):
    def frame(self, f: Frame) -> None: ...

    def render(self, duration: float) -> str: ...


class StatsError(ValueError):
    """An unknown -z name (the message lists the valid ones)."""


def _registry() -> dict[str, type]:
    from sniffer.stats.clients import ClientsStat
    from sniffer.stats.expert import ExpertStat
    from sniffer.stats.latency import LatencyStat
    from sniffer.stats.topics import TopicsStat

    return {"mqtt,clients": ClientsStat, "mqtt,topics": TopicsStat, "mqtt,latency": LatencyStat, "expert": ExpertStat}


NAMES = ("mqtt,clients", "mqtt,topics", "mqtt,latency", "expert")


class StatsSink:
    """The statistics asked for, fed every frame, printed in order at the end."""

    def __init__(self, stats: list[Stat]) -> None:
        self.stats = stats
        self.first_ts: float | None = None
        self.last_ts = 0.0

    def frame(self, f: Frame) -> None:
        if self.first_ts is None:
            self.first_ts = f.ts
        self.last_ts = f.ts
        for s in self.stats:
            s.frame(f)

    def tee(self, printer: Any, quiet: bool) -> None:
        """Make `printer.frame` feed every frame to the statistics first, then print it unless `quiet`."""
        feed, show = self.frame, printer.frame
        if quiet:
            # no packets in any format (tshark's -q still prints -V, -x, -T fields/json; the
            # point of -q is the statistics alone): no header line, no empty JSON array either
            printer.buf.clear()
            printer.json = None
            printer.frame = feed
        else:

            def both(f: Frame) -> None:
                feed(f)
                show(f)

            printer.frame = both

    def report(self, out: TextIO) -> None:
        duration = 0.0 if self.first_ts is None else self.last_ts - self.first_ts
        for s in self.stats:
            out.write(s.render(duration))
        out.flush()


def parse(names: list[str]) -> StatsSink:
    """The sink for these -z names; StatsError for one that is not known."""
    known = _registry()
    stats: list[Stat] = []
    for name in names:
        cls = known.get(name.strip())
        if cls is None:
            raise StatsError(f"unknown statistic -z {name!r}: valid are {', '.join(NAMES)}")
        stats.append(cls())
    return StatsSink(stats)
