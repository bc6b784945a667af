"""The session views' model: the -z aggregators (sniffer.stats) fed by the loader thread, read by the UI.

The loader hands every stored batch of Frames (annotated by the session tracker) to `feed()`;
the Clients, Topics and Expert views read copies through `clients()`, `topics()` and
`expert()`, the Graphs view its counts per second and acknowledgement times through `rates()`.
One lock guards the aggregators, so the UI thread never iterates a dict the loader
is changing; `version` grows with every change, so a view redraws only when there is news.

Expert notes cost a tree per MQTT frame (as much CPU as dissecting it), so they are gathered only
once someone asks (`want_expert()`, the Expert view): from then on the loader counts the new
frames, and a thread reads the frames stored before that moment back from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable
from typing import Any

from sniffer.pipeline import Frame
from sniffer.stats.clients import ClientsStat, ConnInfo
from sniffer.stats.expert import BLOCKS, ExpertStat, Key
from sniffer.stats.rates import RateStat
from sniffer.stats.topics import TopicInfo, TopicsStat

EXPERT_FRAMES = 500  # frames listed per kind of note in the Expert view (the count is always whole)
CATCH_UP_CHUNK = 2000  # stored frames read back per step for the expert notes


class SessionModel:
    def __init__(self, store: Any = None) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.clients_stat = ClientsStat()
        self.topics_stat = TopicsStat()
        # the Graphs view's numbers of the whole capture (a topic's or a client's it counts itself)
        self.rates_stat = RateStat()
        self.followers: list[RateStat] = []  # Graphs views' stats of one topic or client: fed from follow() on
        self.frames = 0  # frames fed so far
        self.version = 0  # changes so far
        self.first_ts: float | None = None
        self.last_ts = 0.0
        # Expert notes: frames numbered above expert_from are counted by feed() (live), those up to
        # it by the catch-up thread (earlier); -1 while nobody has asked for them.
        self.expert_from = -1
        self.expert_live = ExpertStat()
        self.expert_earlier = ExpertStat()
        self.caught_up = 0  # the frame number the catch-up has read up to (of expert_from)

    def feed(self, frames: Iterable[Frame]) -> None:
        """The loader thread, after each stored batch. The expert notes need the frames' trees, the
        costly part: they are read before taking the lock, so the UI never waits for them."""
        frames = list(frames)
        # read once: if the Expert view asks after this, it reads this batch back from the store
        # (these rows are stored already, so they are below the store count it starts from)
        since = self.expert_from
        notes = []
        if since >= 0:
            notes_in = self.expert_live.notes_in
            notes = [(f.number, n) for f in frames if f.number > since for n in (notes_in(f),) if n]
        clients, topics, add = self.clients_stat.frame, self.topics_stat.frame, self.expert_live.add
        rates = self.rates_stat.frame
        with self.lock:
            if frames:
                if self.first_ts is None:
                    self.first_ts = frames[0].ts
                self.last_ts = frames[-1].ts
            for f in frames:
                clients(f)
                topics(f)
                rates(f)
            for stat in self.followers:
                for f in frames:
                    stat.frame(f)
            self.frames += len(frames)
            for number, n in notes:
                add(number, n)
            self.version += 1

    def want_expert(self) -> None:
        """Start gathering expert notes (once): live from now on, and the stored frames in a thread."""
        with self.lock:
            if self.expert_from >= 0:
                return
            st = self.store
            self.expert_from = st.number(st.count - 1) if st is not None else 0  # (a frame number)
        threading.Thread(target=self._catch_up, name="mqttsniff-expert", daemon=True).start()

    def _catch_up(self, chunk: int = CATCH_UP_CHUNK) -> None:
        store = self.store
        # frames that left the list before (--keep-frames) are not read back
        base = store.number_base if store is not None else 0
        end = self.expert_from - base
        notes_in = self.expert_earlier.notes_in
        for start in range(0, end, chunk):
            stop = min(start + chunk, end)
            notes = [(f.number, n) for f in store.frames(start, stop) for n in (notes_in(f),) if n]
            with self.lock:
                for number, n in notes:
                    self.expert_earlier.add(number, n)
                self.caught_up = base + stop
                self.version += 1

    def expert_progress(self) -> float | None:
        """How far the expert notes of the earlier frames are read, 0..1; None when done."""
        end = self.expert_from
        return None if end <= 0 or self.caught_up >= end else self.caught_up / end

    def duration(self) -> float:
        """Seconds from the first frame to the last (the rates' denominator)."""
        with self.lock:
            return 0.0 if self.first_ts is None else self.last_ts - self.first_ts

    def clients(self) -> list[ConnInfo]:
        with self.lock:
            return self.clients_stat.connections()

    def topics(self, expanded: Container[str] | None = None) -> tuple[list[TopicInfo], int, int]:
        """(the nodes at the top and under `expanded` topics, PUBLISH messages, topics published)."""
        with self.lock:
            return (self.topics_stat.nodes(expanded), *self.topics_stat.totals())

    def follow(self, stat: RateStat) -> int:
        """Feed `stat` every frame from now on too (a Graphs view of one topic or client, which reads the
        frames before from the store); the number of the last frame fed before (0: none)."""
        with self.lock:
            self.followers.append(stat)
            return self.frames  # (frames are fed in order, numbered from 1)

    def unfollow(self, stat: RateStat) -> None:
        with self.lock:
            self.followers = [s for s in self.followers if s is not stat]

    def rates(self, stat: RateStat | None = None) -> tuple[list[int], list[int], list[float], int]:
        """(PDUs per second, PUBLISH per second, sorted acknowledgement times, frames counted) of the
        whole capture, or of a `stat` fed by follow(); copied under the lock, sorted after it (the loader
        does not wait for a sort)."""
        with self.lock:
            stat = self.rates_stat if stat is None else stat
            per_all, per_pub = stat.per_second(False), stat.per_second(True)
            times = stat.ack_times(sort=False)
            frames = self.frames
        times.sort()
        return per_all, per_pub, times, frames

    def expert(self) -> list[tuple[Key, int, list[tuple[int, str]]]]:
        """The notes as ExpertStat.groups() gives them, the earlier frames' before the live ones."""
        with self.lock:
            earlier = self.expert_earlier.groups(EXPERT_FRAMES)
            live = self.expert_live.groups(EXPERT_FRAMES)
        merged: dict[Key, tuple[int, list[tuple[int, str]]]] = {}
        for key, n, frames in earlier + live:
            had_n, had = merged.get(key, (0, []))
            merged[key] = (had_n + n, (had + frames)[:EXPERT_FRAMES])
        # most severe first, then in order of first appearance (as ExpertStat.groups)
        severity = {sev: i for i, (sev, _title) in enumerate(BLOCKS)}
        first: dict[Key, int] = {}
        for i, (key, _n, _f) in enumerate(earlier + live):
            first.setdefault(key, i)
        order = sorted(merged, key=lambda k: (severity.get(k[0], len(severity)), first[k]))
        return [(key, *merged[key]) for key in order]
