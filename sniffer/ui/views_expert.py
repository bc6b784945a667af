"""The Expert Information view (key e), as Wireshark's Analyze → Expert Information: the notes of
sniffer.stats.expert grouped by severity, then group, then summary, with counts, expandable to
the frames; Enter on a frame shows it in the packet list."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from sniffer.stats.expert import BLOCKS
from sniffer.textesc import escape
from sniffer.ui.views_common import SessionView

SEVERITY_STYLE = {"Error": "bold red", "Warning": "yellow", "Note": "cyan", "Chat": "blue", "Comment": "green"}


class ExpertView(SessionView):
    TITLE = "Expert Information"
    HINT = "Enter: open a group / show the frame in the packet list · Esc: back"

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        # (severity,), (severity, group) and (severity, group, protocol, summary) -> its tree node
        self.nodes: dict[tuple[str, ...], TreeNode[int]] = {}
        self.listed: dict[tuple[str, ...], list[tuple[int, str]]] = {}  # the frames under each summary node

    def body(self) -> ComposeResult:
        tree: Tree[int] = Tree("Expert Information", id="expert")
        tree.show_root = False
        yield tree

    def on_mount(self) -> None:
        if not self.composed():  # the app exited while it was mounted ahead
            return
        if self.is_current:  # opened (not mounted ahead, hidden): asked for before the first poll
            self.model.want_expert()
        for tree in self.query(Tree):  # (none if the app stopped composing it: see composed())
            tree.focus()
            break

    def on_screen_resume(self) -> None:
        # the notes are gathered from the first time someone looks (not when mounted ahead, hidden);
        # SessionView's on_screen_resume then shows them
        self.model.want_expert()

    def _node(self, key: tuple[str, ...], text: Text, expand: bool) -> TreeNode[int]:
        tn = self.nodes.get(key)
        if tn is None:
            parent = self.query_one(Tree).root if len(key) == 1 else self.nodes[key[: min(len(key) - 1, 2)]]
            tn = self.nodes[key] = parent.add(text, expand=expand)
        else:
            tn.set_label(text)
        return tn

    def redraw(self) -> str:
        groups = self.model.expert()
        per_sev: dict[str, int] = {}
        per_grp: dict[tuple[str, str], int] = {}
        for (sev, grp, _proto, _summary), n, _frames in groups:
            per_sev[sev] = per_sev.get(sev, 0) + n
            per_grp[sev, grp] = per_grp.get((sev, grp), 0) + n
        for sev, _title in BLOCKS:
            if sev in per_sev:
                self._node((sev,), Text(f"{sev} ({per_sev[sev]})", style=SEVERITY_STYLE.get(sev, "")), True)
        for (sev, grp), n in per_grp.items():
            self._node((sev, grp), Text(f"{grp} ({n})"), True)
        for key, n, frames in groups:
            sev, grp, proto, summary = key
            more = f", first {len(frames)} listed" if n > len(frames) else ""
            tn = self._node(key, Text(f"{proto}: {escape(summary)} ({n}{more})"), False)
            listed = self.listed.get(key, [])
            if frames[: len(listed)] != listed:
                # earlier frames read back from the store came in before the live ones listed
                tn.remove_children()
                listed = []
            for number, msg in frames[len(listed) :]:
                tn.add_leaf(Text(f"Frame {number}: {escape(msg)}"), data=number)
            self.listed[key] = frames
        tree: Tree[int] = self.query_one(Tree)
        if tree.cursor_node is None and tree.root.children:
            tree.cursor_line = 0
        total = sum(per_sev.values())
        # poll() redraws while the version moves; the catch-up moves it at every step
        progress = self.model.expert_progress()
        counts_so_far = f"reading the stored frames {progress:.0%} · " if progress is not None else ""
        counts = ", ".join(f"{per_sev[s]} {s.lower()}" for s, _t in BLOCKS if s in per_sev)
        notes = f"{total} note{'s' if total != 1 else ''}" + (f" ({counts})" if counts else "")
        return f"Expert Information: {counts_so_far}{notes}"

    @on(Tree.NodeSelected, "#expert")
    def _chosen(self, event: Tree.NodeSelected) -> None:
        number = event.node.data
        if number is None:
            return  # a group: Enter opened or closed it
        self.dismiss(None)
        self.app.go_to_frame(number)  # type: ignore[attr-defined]
