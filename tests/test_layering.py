"""Each room owns its data: no module of sniffer reads another module's underscore names.

The filter owns its index columns (sniffer.filter.index), the store its storage (sniffer.store, with a
small public API for the filter); a private name used across modules couples them silently.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _private_accesses(path: Path) -> list[str]:
    """`x._name` / getattr(x, "_name") / `from sniffer.m import _name` where _name belongs to another module."""
    tree = ast.parse(path.read_text())
    # names this module gives its own objects: attributes it sets, names of its class bodies, __slots__
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    own.add(item.name)
                for t in item.targets if isinstance(item, ast.Assign) else [getattr(item, "target", None)]:
                    if isinstance(t, ast.Name):
                        own.add(t.id)
                        if t.id == "__slots__":
                            own.update(c.value for c in ast.walk(item) if isinstance(c, ast.Constant))
    out = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and not isinstance(node.value, ast.Name | ast.Attribute):
            continue
        if isinstance(node, ast.Attribute):
            recv = node.value
            if isinstance(recv, ast.Name) and recv.id in ("self", "cls"):
                continue
            name = node.attr
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            arg = node.args[1] if len(node.args) > 1 else None
            recv = node.args[0] if node.args else None
            if isinstance(recv, ast.Name) and recv.id in ("self", "cls"):
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sniffer"):
            out += [
                f"{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if a.name[:1] == "_" and a.name[:2] != "__"
            ]
            continue
        if name and name.startswith("_") and not name.startswith("__") and name not in own:
            out.append(f"{node.lineno}: {ast.unparse(node)}")
    return out


# third-party privates we have to use, with the reason
ALLOWED = {
    ("sniffer/synth/pcap_write.py", "w._write_header"): "scapy's pcapng writer has no public header call",
    ("sniffer/ui/views_common.py", "getattr(app, '_register', None)"): (
        "Textual has no public call that mounts a screen without showing it (the session views are mounted"
        " ahead, hidden); App._register is the first step of its own push_screen, used only where present"
    ),
}


def test_no_module_reads_another_modules_private_attributes() -> None:
    """The filter owns its index, the store its storage: no module reads another's underscore names."""
    found = []
    for path in sorted((REPO / "sniffer").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        for hit in _private_accesses(path):
            if (rel, hit.split(": ", 1)[1]) not in ALLOWED:
                found.append(f"{rel}:{hit}")
    assert not found, "\n".join(found)
