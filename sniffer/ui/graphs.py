"""The Graphs view (key i): MQTT messages per second over time and the acknowledgement-time histogram.

The numbers come from sniffer.stats.rates.RateStat (the same aggregator a headless output can use).
The whole capture's is the session model's (sniffer.ui.session_model), fed by the loader with every
batch: opening the view reads no stored row, and the view rereads it at most twice a second when it
changed. A topic's or a client's scope is counted in two parts: a worker thread reads the MQTT rows of the
loader's store stored when the scope is chosen (TCP-only rows skipped by their colour class, no frame rebuilt for
them), and the session model counts every frame after into a stat of the view's own (`follow`), so the
view goes on counting when a bounded UI (--keep-frames) moves to a new store. The plots are
textual-plotext widgets, imported when the view opens (start-up does not pay for plotext).
Keys: `m` all PDUs / PUBLISH only, `s` scope: everything / the selected frame's topic / its client.
Wire text (a topic, a client id) is escaped before it reaches a plot title: plotext's output is read
back as ANSI text, so a raw ESC in a topic would style the screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from sniffer.filter.index import MQ_COMPLEX, MQ_NPDU, MQ_TYPE
from sniffer.mqtt import constants as C
from sniffer.stats.layout import median, percentile
from sniffer.stats.rates import ACKS, RateStat
from sniffer.store import CLS_TCP_CONTROL
from sniffer.textesc import escape
from sniffer.ui.views_common import QUIT

REFRESH = 0.5  # seconds between live updates
BINS = 20  # of the acknowledgement-time histogram
SCOPES = ("all", "topic", "client")


def scope_of(store: Any, row: int) -> tuple[str | None, str | None]:
    """(topic, client) the selected stored row offers: its first PUBLISH's topic, its first PDU's client."""
    if not 0 <= row < store.count:
        return None, None
    pdus = store.frame(row).pdus
    topic = next((p.topic for p in pdus if p.msgtype == C.PUBLISH and p.topic is not None), None)
    client = next((p.ann.client for p in pdus if p.ann is not None and p.ann.client is not None), None)
    return topic, client


def histogram(times: list[float], bins: int) -> tuple[list[float], list[int]]:
    """(bin centres, counts) of sorted `times` in `bins` equal bins from the least to the greatest."""
    lo, hi = times[0], times[-1]
    width = (hi - lo) / bins or 1e-6  # all equal: one narrow bin
    counts = [0] * bins
    for t in times:
        counts[min(int((t - lo) / width), bins - 1)] += 1
    return [lo + (k + 0.5) * width for k in range(bins)], counts


def plus(a: list[int], b: list[int]) -> list[int]:
    """Counts per second added, the shorter list padded with zeros."""
    if len(a) < len(b):
        a, b = b, a
    return [x + b[k] for k, x in enumerate(a[: len(b)])] + a[len(b) :]


def ms(t: float | None) -> str:
    return "-" if t is None else f"{t * 1000:.3f} ms"


class RowFeeder:
    """Feeds a RateStat stored rows [start, end) without rebuilding most of their frames: the PDU types
    and topics come from the store's columns (the display filter's index: sniffer.filter.index), the
    time from its Time column. A frame is rebuilt only for what the columns do not hold: a response's
    mqtt.time (ACKS), a malformed PDU (the frame path decides), and, counting one client's, the first
    MQTT frame of each connection (its client id). What it counts is exactly what RateStat.frame counts
    on the rebuilt frames (tests/test_ui_flow_graphs.py compares the two)."""

    def __init__(self, store: Any, stat: RateStat) -> None:
        self.store = store
        self.stat = stat
        self.client_of: dict[int, str] = {}  # tcp.stream -> its client id, once a frame names it

    def _client(self, stream: int, row: int, read: Any) -> str | None:
        c = self.client_of.get(stream)
        if c is None:
            pdus = read(row).pdus
            c = next((p.ann.client for p in pdus if p.ann is not None and p.ann.client is not None), None)
            if c is not None:
                self.client_of[stream] = c
        return c

    def feed(self, start: int, end: int) -> None:
        store, stat = self.store, self.stat
        idx = store.index
        mq, more, tcol = idx.mq, idx.more, idx.topic
        streams = store.column("stream")
        read = store.frame_reader()
        client, topic = stat.client, stat.topic
        tid = -1  # the topic's id in the index (-1: not seen yet, nothing matches)
        if topic is not None and topic in idx.topics:
            tid = idx.topics.index(topic, 1)
        for i in range(start, end):
            if (store.cls(i) & 0x3F) >= CLS_TCP_CONTROL:
                continue
            w = mq[i]
            if not w & MQ_NPDU:
                continue
            if w & MQ_COMPLEX:
                stat.frame(read(i))
                continue
            if client is not None and self._client(streams[i], i, read) != client:
                continue
            rel = store.rel_ts(i)
            words = (w, 0, tcol[i], *more.get(i, ()))
            acks = False
            for k in range(0, len(words), 3):
                t = words[k] & MQ_TYPE
                if t in ACKS:
                    acks = True
                if topic is None or (t == C.PUBLISH and words[k + 2] == tid):
                    stat.pdu(rel, t)
            if acks:
                for p in read(i).pdus:
                    a = p.ann
                    if a is not None and a.time >= 0 and (client is None or a.client == client):
                        stat.ack(p.msgtype, a.time)


class GraphsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,i", "close", "Close"),
        Binding("m", "toggle_kind", "All / PUBLISH"),
        Binding("s", "cycle_scope", "Scope"),
        QUIT,
    ]
    IS_VIEW = True  # the app's packet-list keys sleep while it is on top (SnifferApp.check_action)
    DEFAULT_CSS = """
    GraphsScreen #graphs-title, GraphsScreen #graphs-acks { height: auto; background: $panel; padding: 0 1; }
    GraphsScreen PlotextPlot { height: 1fr; }
    """

    def __init__(self, store: Any, row: int, model: Any) -> None:
        super().__init__()
        self.model = model  # the session model: the whole capture's numbers, and a scope's later frames
        self.seen = -1  # the model version shown
        self.topic, self.client = scope_of(store, row)
        self.store: Any = None  # read only for a narrower scope: the loader's newest (_restart)
        self.scope = "all"
        self.publish_only = False
        self.stat = RateStat()
        self.feeder: RowFeeder | None = None  # (worker thread) feeds self.stat
        self.fed = 0  # stored rows fed to self.stat
        # a scope narrower than "all": self.stat counts rows [0, backlog_end) of
        # self.store (the frames stored when the scope was chosen), self.live the frames after (the model
        # feeds it); self.store is let go once its rows are read
        self.live: RateStat | None = None
        self.backlog_end = 0
        self.busy = False
        # what the plots show: (per second all, per second PUBLISH, sorted ack times), set on the UI thread
        self.data: tuple[list[int], list[int], list[float]] = ([], [], [])

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        yield Static("", id="graphs-title")
        yield PlotextPlot(id="rate")
        yield Static("", id="graphs-acks")
        yield PlotextPlot(id="acks")
        yield Footer()

    def on_mount(self) -> None:
        if not self.query("#graphs-title"):  # the app exited while it was mounting: its compose never ran
            return
        self._draw()
        self._feed_more()
        self.set_interval(REFRESH, self._feed_more)

    # -- data (worker thread) --------------------------------------------------------------------------
    def _feed_more(self) -> None:
        if self.busy:
            return
        version = self.model.version  # an int read: no lock needed
        live = self.live
        if live is None:  # everything: the model's own numbers
            if version != self.seen:
                self.busy = True
                self._read_model(self.app, self.stat, version)
            return
        if self.fed < self.backlog_end:
            self._start_feed(live, version)
            return
        self._let_go()  # its rows are read: a bounded UI may close the store
        if version != self.seen:
            self.busy = True
            self._read_live(self.app, self.stat, live, version)

    def _start_feed(self, live: RateStat, version: int) -> None:
        """Read rows [fed, backlog_end) of self.store in a worker; the app keeps that store open until it is done."""
        self.busy = True
        app = self.app  # (taken here: a worker of a screen that has closed finds no app of its own)
        app.hold_store(self.store)
        self._feed(app, self.store, self.stat, self.fed, self.backlog_end, live, version)

    def _let_go(self) -> None:
        if self.store is not None:
            self.store = None
            self.feeder = None
            self.app.close_retired()

    @work(thread=True, exclusive=False, group="graphs")
    def _read_model(self, app: Any, stat: RateStat, version: int) -> None:
        per_all, per_pub, times, frames = self.model.rates()  # (the sort is done out of the UI thread)
        app.call_from_thread(self._fed, stat, frames, (per_all, per_pub, times), version)

    @work(thread=True, exclusive=False, group="graphs")
    def _feed(self, app: Any, store: Any, stat: RateStat, start: int, end: int, live: RateStat, version: int) -> None:
        try:
            feeder = self.feeder
            if feeder is None or feeder.stat is not stat or feeder.store is not store:
                feeder = self.feeder = RowFeeder(store, stat)
            feeder.feed(start, end)
            snap = self._snap(stat, live)
        finally:
            app.call_from_thread(app.release_store, store)
        app.call_from_thread(self._fed, stat, end, snap, version)

    @work(thread=True, exclusive=False, group="graphs")
    def _read_live(self, app: Any, stat: RateStat, live: RateStat, version: int) -> None:
        app.call_from_thread(self._fed, stat, self.backlog_end, self._snap(stat, live), version)

    def _snap(self, stat: RateStat, live: RateStat) -> tuple[list[int], list[int], list[float]]:
        """What the plots show: `stat`'s counts (this thread's), plus `live`'s (copied under the model's lock)."""
        per_all, per_pub, times = stat.per_second(False), stat.per_second(True), stat.ack_times(sort=False)
        l_all, l_pub, l_times, _frames = self.model.rates(live)
        per_all, per_pub, times = plus(per_all, l_all), plus(per_pub, l_pub), times + l_times
        times.sort()
        return per_all, per_pub, times

    def _fed(self, stat: RateStat, end: int, snap: tuple[list[int], list[int], list[float]], version: int = -1) -> None:
        self.busy = False
        if not self.is_attached:  # closed meanwhile
            return
        if stat is not self.stat:  # the scope changed meanwhile: that work is void
            self._feed_more()
            return
        self.fed = end  # (from the model: the frames it has counted)
        self.seen = version
        self.data = snap
        self._draw()

    def _restart(self) -> None:
        topic = self.topic if self.scope == "topic" else None
        client = self.client if self.scope == "client" else None
        self.stat = RateStat(topic=topic, client=client)
        self.fed = 0
        self._unfollow()
        self._let_go()
        if self.scope != "all":
            # the loader's newest store (the list may not have taken it yet) and the last frame the model
            # had counted, taken together: rows up to that frame are read here, the model counts the later
            self.live = RateStat(topic=topic, client=client)
            self.store, after = self.app.loader.follow(self.model, self.live)
            self.backlog_end = min(max(self.store.row_of(after) + 1, 0), self.store.count)
        self.seen = -1
        self.data = ([], [], [])
        self._draw()
        self._feed_more()

    # -- drawing ---------------------------------------------------------------------------------------
    def scope_text(self) -> str:
        if self.scope == "topic":
            return f'topic "{escape(self.topic or "")}"'
        if self.scope == "client":
            return f'client "{escape(self.client or "")}"'
        return "all connections"

    def _draw(self) -> None:
        from textual_plotext import PlotextPlot

        per_all, per_pub, times = self.data
        counts = per_pub if self.publish_only else per_all
        kind = "PUBLISH messages" if self.publish_only else "MQTT packets"
        title = Text(f"{kind} per second, {self.scope_text()}", style="bold")
        title.append("   m: all / PUBLISH   s: scope (all, selected topic, selected client)   Esc: back", style="dim")
        self.query_one("#graphs-title", Static).update(title)
        rate = self.query_one("#rate", PlotextPlot)
        plt = rate.plt
        plt.clear_data()
        plt.clear_figure()
        if counts:
            # a line, as Wireshark's I/O graph draws (plotext draws a zero-high bar as a full cell)
            plt.plot(list(range(len(counts))), counts, marker="braille")
            step = max(len(counts) // 5, 1)  # whole seconds as ticks, chosen here (as the histogram's)
            plt.xticks(list(range(0, len(counts), step)))
            plt.ylim(0, max(counts))
            plt.xlabel("second of the capture")
        else:
            plt.title("no MQTT packets yet")
        rate.refresh()
        med, p95 = median(times), percentile(times, 95)
        line = "Acknowledgement times (mqtt.time of CONNACK, PUBACK, PUBREC, PUBCOMP, SUBACK, PINGRESP): "
        line += f"{len(times):,}   median {ms(med)}   p95 {ms(p95)}"
        self.query_one("#graphs-acks", Static).update(Text(line))
        acks = self.query_one("#acks", PlotextPlot)
        plt = acks.plt
        plt.clear_data()
        plt.clear_figure()
        if times:
            # binned here, drawn as bars: plotext's own hist draws an empty bin as a full cell
            centres, counts = histogram(times, BINS)
            xs = [round(c * 1000, 3) for c in centres]
            plt.bar(xs, counts)
            # ticks chosen here: plotext's own pick among 20 labels varied from one drawing to the next
            marks = xs[:: max(len(xs) // 5, 1)]
            plt.xticks(marks, [f"{x:g}" for x in marks])
            plt.xlabel("ms")
        else:
            plt.title("no acknowledgements yet")
        acks.refresh()

    # -- actions ---------------------------------------------------------------------------------------
    def action_toggle_kind(self) -> None:
        self.publish_only = not self.publish_only
        self._draw()

    def action_cycle_scope(self) -> None:
        scope = self.scope
        for _ in SCOPES:
            scope = SCOPES[(SCOPES.index(scope) + 1) % len(SCOPES)]
            if scope == "all" or getattr(self, scope) is not None:
                break
        if scope == self.scope:
            self.notify("The selected frame has no topic or client to narrow to", severity="warning")
            return
        self.scope = scope
        self._restart()

    def _unfollow(self) -> None:
        if self.live is not None:
            self.model.unfollow(self.live)
        self.live = None

    def on_unmount(self) -> None:
        self._unfollow()

    def action_close(self) -> None:
        self.dismiss(None)
