"""The detail tree of the selected frame, built on demand from its Node list (Wireshark's middle pane).

Protocol layers start collapsed except MQTT, as a Wireshark user looks at the MQTT part first;
layers and subtrees the user opens stay open for the next frames (keyed by field name).
Secret fields (mqtt.passwd) show as ******** until secrets are revealed.
Items that name another frame (`[Response In: 42]`, `[Published In: 17]`, a reassembled PDU's
`[Frame: 4, payload: …]`) are links, as in Wireshark: Enter or a double click on one posts
`FollowLink` with its frame (a single click only selects it, so its bytes can still be looked at).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from sniffer.fields import ERROR, WARN, Node
from sniffer.output.text import masked_text

_SEVERITY_STYLE = {ERROR: "bold red", WARN: "yellow"}
# fields whose value is a frame number (Wireshark's FT_FRAMENUM): Enter on one goes to that frame
LINK_FIELDS = frozenset(
    {
        "mqtt.response_in",
        "mqtt.response_to",
        "mqtt.published_in",
        "mqtt.delivered_in",
        "tcp.segment",
        "tcp.analysis.acks_frame",
        "arp.duplicate-address-frame",
        "tcp.analysis.duplicate_ack_frame",
        "tcp.analysis.rto_frame",
    }
)


def link_target(node: Node | None) -> int | None:
    """The frame number a tree item links to, or None when it is no link."""
    if node is None or node.fdef is None or node.fdef.abbrev not in LINK_FIELDS:
        return None
    value = node.value
    return value if type(value) is int and value > 0 else None


def node_key(node: Node) -> str:
    """A name for a tree position that survives from one frame to the next."""
    if node.fdef is not None:
        return node.fdef.abbrev
    return node.text.split(":", 1)[0].split("(", 1)[0].strip()


class DetailTree(Tree):
    DEFAULT_CSS = "DetailTree { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }"
    # no horizontal scrollbar (it would take a line at 80x24): the arrows scroll a long label sideways
    BINDINGS = [
        Binding("right", "scroll_columns(8)", "Scroll right", show=False),
        Binding("left", "scroll_columns(-8)", "Scroll left", show=False),
    ]

    class FollowLink(Message):
        """Go to frame `number` (Enter or a double click on a link item)."""

        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    def __init__(self, **kw: Any) -> None:
        super().__init__("frame", **kw)
        self.show_root = False
        self.guide_depth = 2
        self.nodes_by_id: dict[int, TreeNode] = {}
        self.expanded_keys: set[str] = {"mqtt"}
        self._building = False
        self.top_nodes: list[Node] = []
        self._click_chain = 0  # while a click is handled: 1 single, 2 double; 0 for keys

    def show(self, nodes: list[Node], show_secrets: bool, keep: Node | None = None) -> Node | None:
        """Replace the tree with `nodes` (the selected frame's dissection); returns the field it starts
        on: `keep` (one of `nodes`, when the same frame is shown again) or the first MQTT layer."""
        first = None
        self._building = True
        try:
            self.clear()
            self.nodes_by_id.clear()
            self.top_nodes = nodes
            for top in nodes:
                self._add(self.root, top, show_secrets)
            self.root.expand()
            # Start on the first MQTT layer (a Wireshark user's first look), else at the top.
            first = next((n for n in nodes if n.fdef is not None and n.fdef.abbrev == "mqtt"), None)
            if keep is not None and id(keep) in self.nodes_by_id:
                first = keep  # the same frame again (secrets toggled): the cursor stays on its node
                self.call_after_refresh(self._move_to, self.nodes_by_id[id(keep)])
            elif first is not None and id(first) in self.nodes_by_id:
                self.call_after_refresh(self._start_at, self.nodes_by_id[id(first)])
        finally:
            self._building = False
        return first

    def _add(self, parent: TreeNode, node: Node, show_secrets: bool) -> None:
        if node.hidden:
            return
        label = Text(masked_text(node, show_secrets))
        if node.severity:
            label.stylize(_SEVERITY_STYLE.get(node.severity, "cyan"))
        elif link_target(node) is not None:
            label.stylize("underline")  # a link, as Wireshark underlines them: Enter goes there
        children = [c for c in node.children if not c.hidden]
        if children:
            tn = parent.add(label, data=node, expand=node_key(node) in self.expanded_keys)
            for c in children:
                self._add(tn, c, show_secrets)
        else:
            tn = parent.add_leaf(label, data=node)
        self.nodes_by_id[id(node)] = tn

    def action_scroll_columns(self, delta: int) -> None:
        x = max(0, min(self.scroll_x + delta, self.max_scroll_x))
        self.scroll_to(x=x, animate=False, immediate=True, force=True)  # force: overflow-x is hidden

    async def _on_click(self, event: events.Click) -> None:
        # Textual runs Tree's own click handler after this one (handlers of every class in the MRO):
        # it selects the line; the chain says whether that was a single or a double click
        self._click_chain = event.chain
        self.call_later(self._clicked)

    def _clicked(self) -> None:
        self._click_chain = 0

    def action_select_cursor(self) -> None:
        super().action_select_cursor()
        node = self.cursor_node
        target = link_target(node.data if node is not None else None)
        if target is not None and self._click_chain != 1:
            self.post_message(self.FollowLink(target))

    def _start_at(self, tn: TreeNode) -> None:
        self.move_cursor(tn)
        if tn.line >= 0:
            self.scroll_to(y=tn.line, animate=False)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        if not self._building and event.node.data is not None:
            self.expanded_keys.add(node_key(event.node.data))

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        if not self._building and event.node.data is not None:
            self.expanded_keys.discard(node_key(event.node.data))

    def field_at(self, source: int, offset: int) -> Node | None:
        """The innermost visible field covering byte `offset` of data source `source`."""
        best: Node | None = None

        def walk(n: Node, depth: int) -> None:
            nonlocal best
            if n.hidden:
                return
            inside = n.source == source and n.length > 0 and n.start <= offset < n.start + n.length
            if inside and (best is None or n.length <= best.length):
                best = n
            for c in n.children:
                walk(c, depth + 1)

        for top in self.top_nodes:
            walk(top, 0)
        return best

    def select_field(self, node: Node) -> None:
        """Move the cursor to `node`, opening its parents."""
        tn = self.nodes_by_id.get(id(node))
        if tn is None:
            return
        p = tn.parent
        opened = False
        while p is not None:
            if not p.is_expanded:
                p.expand()
                opened = True
            p = p.parent
        if opened:  # the node gets its line once the tree has laid the opened subtrees out
            self.call_after_refresh(self._move_to, tn)
        else:
            self.move_cursor(tn)

    def _move_to(self, tn: TreeNode) -> None:
        self.move_cursor(tn)
        self.scroll_to_node(tn, animate=False)
