"""The Topics view (key o): the topic tree as seen on the wire (sniffer.stats.topics), each level
with its message count, rate, retained flag and last payload; a side pane names the publishers and
the subscribers whose filters match. Enter filters the packet list to the topic (and below it)."""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from sniffer.stats.topics import TopicInfo
from sniffer.ui.views_common import SessionView, filter_literal, preview, wire


def topic_filter(info: TopicInfo) -> str:
    """The display filter for a node: exactly its topic for a leaf, else it and everything below it."""
    if info.leaf:
        return f"mqtt.topic == {filter_literal(info.topic)}"
    if "+" in info.topic or "#" in info.topic:
        # levels from the wire that are wildcards themselves (a broken publisher): topic_match would
        # read them as wildcards, so match the prefix exactly, case-sensitively
        prefix = filter_literal("(?-i)^" + re.escape(info.topic + "/"))
        return f"mqtt.topic == {filter_literal(info.topic)} || mqtt.topic matches {prefix}"
    return f"topic_match(mqtt.topic, {filter_literal(info.topic + '/#')})"


def label(info: TopicInfo, duration: float) -> Text:
    out = Text()
    out.append_text(wire(info.level))
    if info.own:
        out.stylize("bold")
    rate = f"{info.msgs / duration:.2f}/s" if duration > 0 else "-/s"
    out.append(f"  {info.msgs} msg{'s' if info.msgs != 1 else ''} · {rate}", style="dim")
    if info.retained:
        out.append(" · R", style="yellow")
    if info.own:
        out.append("  ")
        out.append(preview(info.last), style="italic")
    return out


def names(items: tuple[str, ...]) -> Text:
    if not items:
        return Text("none seen", style="dim")
    out = Text()
    for i, n in enumerate(items):
        if i:
            out.append(", ")
        out.append_text(wire(n))
    return out


def details(info: TopicInfo, duration: float) -> Text:
    out = Text()
    out.append("Topic  ", style="bold")
    out.append_text(wire(info.topic))
    rate = f"{info.msgs / duration:.3f}/s" if duration > 0 else "-"
    out.append(f"\nMessages  {info.msgs} ({info.own} on exactly this topic)\nPayload bytes  {info.size}"
               f"\nRate  {rate}\nRetained  {info.retained}\n")  # fmt: skip
    if info.own:
        out.append("Last payload  ", style="bold")
        out.append(preview(info.last, 64))
        out.append("\nPublishers  ", style="bold")
        out.append_text(names(info.publishers))
        out.append("\nSubscribers  ", style="bold")
        out.append_text(names(info.subscribers))
    out.append("\n\nEnter filters: ", style="dim")
    out.append(topic_filter(info), style="dim")
    return out


TOGGLE = Style.from_meta({"toggle": True})  # a click on the icon opens or closes the node, as in Tree


class TopicTree(Tree[TopicInfo]):
    """A Tree whose labels are made from each node's TopicInfo when drawn: a refresh swaps the nodes'
    data and redraws, and only the lines on screen are formatted (set_label on every node of a
    large tree cost more than the rest of the refresh)."""

    duration = 0.0

    def render_label(self, node: TreeNode[TopicInfo], base_style: Style, style: Style) -> Text:
        info = node.data
        if info is None:
            return super().render_label(node, base_style, style)
        text = label(info, self.duration)
        text.stylize(style)
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
            return Text.assemble((icon, base_style + TOGGLE), text)
        return text

    def relabel(self) -> None:
        """The nodes' data changed: draw every line again."""
        self._invalidate()


class TopicsView(SessionView):
    TITLE = "Topics"
    HINT = "Enter: show this topic's packets (and below) · Space: open/close · Esc: back"
    DEFAULT_CSS = """
    TopicsView Horizontal { height: 1fr; }
    TopicsView #topics { width: 3fr; }
    TopicsView #topic-info { width: 2fr; border-left: vkey $primary 50%; padding: 0 1; }
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        self.by_topic: dict[str, TreeNode[TopicInfo]] = {}
        self.duration = 0.0

    def body(self) -> ComposeResult:
        tree = TopicTree("Topics", id="topics")
        tree.show_root = False
        tree.auto_expand = False  # Enter filters; Space opens and closes
        with Horizontal():
            yield tree
            with VerticalScroll(id="topic-info"):
                yield Static("", id="topic-text")

    def on_mount(self) -> None:
        if not self.composed():  # the app exited while it was mounted ahead
            return
        for tree in self.query(Tree):  # (none if the app stopped composing it: see composed())
            tree.focus()
            break

    def redraw(self) -> str:
        tree = self.query_one(TopicTree)
        by_topic = self.by_topic
        # only what is open is asked for: a closed node's children are fetched when it opens
        expanded = {topic for topic, tn in by_topic.items() if tn.is_expanded}
        nodes, messages, published = self.model.topics(expanded)
        self.duration = self.model.duration()
        tree.duration = self.duration
        opened_new = False
        # nodes come parents first, so a node's parent is always placed before it
        for info in nodes:
            tn = by_topic.get(info.topic)
            if tn is None:
                parent = tree.root if info.depth == 0 else by_topic[info.topic.rsplit("/", 1)[0]]
                # the label is drawn from the data (TopicTree.render_label); the level is kept for searches
                tn = by_topic[info.topic] = parent.add(
                    wire(info.level), data=info, expand=info.depth == 0, allow_expand=not info.leaf
                )
                opened_new |= info.depth == 0 and not info.leaf
            else:
                tn.data = info
                tn.allow_expand = not info.leaf
        tree.relabel()
        if opened_new:
            self.seen = -1  # top-level nodes open at once: fetch their children at the next poll
        if tree.cursor_node is None and tree.root.children:
            tree.cursor_line = 0
        self._show(tree.cursor_node)
        return f"Topics: {published} topics published, {messages} PUBLISH messages"

    def reveal(self, topic: str) -> TreeNode[TopicInfo] | None:
        """Open the way down to `topic`, level by level as a user would; its node (None if unknown)."""
        levels = topic.split("/")
        for i in range(1, len(levels)):
            tn = self.by_topic.get("/".join(levels[:i]))
            if tn is None:
                return None
            if not tn.is_expanded:
                tn.expand()
                self.seen = -1
                self.poll()
        return self.by_topic.get(topic)

    @on(Tree.NodeExpanded, "#topics")
    def _opened(self, event: Tree.NodeExpanded) -> None:
        self.seen = -1  # its children are fetched now
        self.poll()

    def _show(self, tn: TreeNode[TopicInfo] | None) -> None:
        text = self.widget("#topic-text", Static)
        if text is None:
            return
        info = tn.data if tn is not None else None
        text.update(details(info, self.duration) if info is not None else Text("No PUBLISH seen yet", style="dim"))

    @on(Tree.NodeHighlighted, "#topics")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        self._show(event.node)

    @on(Tree.NodeSelected, "#topics")
    def _chosen(self, event: Tree.NodeSelected) -> None:
        info = event.node.data
        if info is None:
            return
        self.dismiss(None)
        self.app.filter_to(topic_filter(info))  # type: ignore[attr-defined]
