"""The session views' model: the -z aggregators (sniffer.stats) fed by the loader thread, read by the UI.

The loader hands every stored batch of Frames (annotated by the session tracker) to `feed()`;
the Clients, Topics and Expert views read copies through `clients()`, `topics()` and
`expert()`. One lock guards the aggregators, so the UI thread never iterates a dict the loader
is changing; `version` grows with every batch, so a view rebuilds only when there is news.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sniffer.pipeline import Frame
from sniffer.stats.clients import ClientsStat, ConnInfo
from sniffer.stats.expert import ExpertStat, Key
from sniffer.stats.topics import TopicInfo, TopicsStat

EXPERT_FRAMES = 500  # frames listed per kind of note in the Expert view (the count is always whole)


class SessionModel:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients_stat = ClientsStat()
        self.topics_stat = TopicsStat()
        self.expert_stat = ExpertStat()
        self.version = 0  # batches fed so far
        self.first_ts: float | None = None
        self.last_ts = 0.0

    def feed(self, frames: Iterable[Frame]) -> None:
        """The loader thread, after each stored batch. The expert notes need the frames' trees, the
        costly part: they are read before taking the lock, so the UI never waits for them."""
        frames = list(frames)
        notes_in = self.expert_stat.notes_in
        notes = [(f.number, n) for f in frames for n in (notes_in(f),) if n]
        clients, topics, add = self.clients_stat.frame, self.topics_stat.frame, self.expert_stat.add
        with self.lock:
            for f in frames:
                if self.first_ts is None:
                    self.first_ts = f.ts
                self.last_ts = f.ts
                clients(f)
                topics(f)
            for number, n in notes:
                add(number, n)
            self.version += 1

    def duration(self) -> float:
        """Seconds from the first frame to the last (the rates' denominator)."""
        with self.lock:
            return 0.0 if self.first_ts is None else self.last_ts - self.first_ts

    def clients(self) -> list[ConnInfo]:
        with self.lock:
            return self.clients_stat.connections()

    def topics(self) -> list[TopicInfo]:
        with self.lock:
            return self.topics_stat.nodes()

    def expert(self) -> list[tuple[Key, int, list[tuple[int, str]]]]:
        with self.lock:
            return self.expert_stat.groups(EXPERT_FRAMES)
