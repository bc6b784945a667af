"""Runs the chosen decoder over one payload: decompression first (bounded by --max-pdu), then the
decoder, whose failure becomes an expert note under what it built. Never raises.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Final

from sniffer.fields import ERROR, NOTE, Node, item
from sniffer.payload import choose as C
from sniffer.payload.context import MAX_ITEMS, Ctx, Malformed, TooMany
from sniffer.payload.fields import UNCOMPRESSED

# decoder name -> (module, the name its protocol is shown by in notes)
_MODULES: Final = {
    "json": ("sniffer.payload.jsontree", "JSON"),
    "cbor": ("sniffer.payload.cbortree", "CBOR"),
    "msgpack": ("sniffer.payload.msgpacktree", "MessagePack"),
    "sparkplug": ("sniffer.payload.sparkplug", "Sparkplug B"),
}
_WBITS: Final = {"gzip": 31, "zlib": 15, "deflate": -15}
_CHUNK: Final = 64 * 1024


def inflate(data: bytes, kind: str, limit: int) -> bytes:
    """`data` decompressed; Malformed past `limit` bytes of output. Two passes: the first only measures
    (64 KiB at a time, discarded), so a bomb costs CPU up to the limit and never memory; the second
    makes exactly the bytes measured."""
    d = zlib.decompressobj(_WBITS[kind])
    total, rest = 0, data
    try:
        while True:
            chunk = d.decompress(rest, _CHUNK)
            total += len(chunk)
            if total > limit:
                raise Malformed(f"decompresses to more than {limit} bytes (--max-pdu): stopped there", 0)
            rest = d.unconsumed_tail
            if d.eof or (not rest and not chunk):
                break
        if not d.eof:
            raise Malformed(f"{kind} data cut short after {total} bytes of output", len(data))
        return zlib.decompressobj(_WBITS[kind]).decompress(data, total)
    except zlib.error as e:
        raise Malformed(f"not {kind} data ({e})", 0) from None


def _text(ctx: Ctx, data: bytes) -> Node:
    from sniffer.mqtt import fields as MF

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Malformed(f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})", e.start) from None
    return ctx.node(MF.MSG_TEXT, text, 0, len(data))


def _run(name: str, ctx: Ctx, data: bytes, topic: str) -> list[Node]:
    """The decoder's nodes; a failure adds a note under what it built."""
    out: list[Node] = []
    try:
        if name == "text":
            out.append(_text(ctx, data))
        elif name != "hex":
            module, _title = _MODULES[name]
            out.append(importlib.import_module(module).decode(ctx, data, topic))
    except (Malformed, TooMany, Exception) as e:  # a decoder bug must not take the capture down either
        holder = ctx.root
        if holder is None:  # nothing built (text): the note stands alone under the message
            holder = Node(None, None, ctx.base, 0, f"[Malformed Payload: {name}]", [], ctx.source)
        if holder not in out:
            out.append(holder)
        if isinstance(e, Malformed):
            title = _MODULES.get(name, ("", name))[1]
            what = "Malformed payload" if e.severity == ERROR else "Payload"
            holder.children.append(ctx.note(e.severity, f"{what} ({title}): {e.reason}", e.offset, 0))
        elif isinstance(e, TooMany):
            holder.children.append(ctx.note(NOTE, f"More than {MAX_ITEMS} items: the rest is not shown", 0, 0))
        else:
            holder.children.append(ctx.note(ERROR, f"Payload decoder bug: {type(e).__name__}: {e}", 0, 0))
    return out


def decode_message(
    data: bytes, topic: str, content_type: str | None, pfi: int, start: int, length: int, source: int
) -> tuple[str, str, list[Node]] | None:
    """(decoder name, why it was chosen, nodes to put under the Message item), or None: no decoder."""
    chosen = C.choose(topic, content_type, pfi, data)
    if chosen is None:
        return None
    spec, why = chosen
    nodes: list[Node] = []
    whole: tuple[int, int] | None = None
    for kind in spec[:-1] if spec[-1] not in C.COMPRESSIONS else spec:
        ctx = Ctx(start, source, whole or (start, length))
        try:
            raw = inflate(data, kind, C.Config.max_out)
        except Malformed as e:
            nodes.append(ctx.note(ERROR, f"Malformed payload ({kind}): {e.reason}", 0, 0))
            return kind, why, nodes
        nodes.append(item(UNCOMPRESSED, raw, start, length, source,
                          text=f"[Uncompressed Message ({kind}): {len(data)} → {len(raw)} bytes]"))  # fmt: skip
        data, whole = raw, (start, length)  # its items point at the compressed message
    name = spec[-1]
    if name in C.COMPRESSIONS:  # decompressed, decoder not named: an unambiguous JSON document, else bytes
        from sniffer.payload.jsontree import is_document

        if not is_document(data):
            return name, why, nodes
        name = "json"
    ctx = Ctx(start, source, whole)
    nodes.extend(_run(name, ctx, data, topic))
    if name == "json" and ctx.root is not None:
        from sniffer.payload.alink import name_of

        alink = name_of(data)
        if alink is not None:  # Alibaba Cloud IoT's Alink JSON, named as such (as the UI did)
            ctx.root.text += f" ({alink})"
    return name, why, nodes
