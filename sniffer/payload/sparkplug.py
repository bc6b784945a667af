"""Sparkplug B payloads: the Eclipse Tahu schema as one table, a protobuf wire walker over it, and
protobuf message classes built from the same table.

Why a walker and not protobuf's own parser: the walker gives every field its byte range (the hex
pane highlights it), shows what it decoded before a fault instead of a bare DecodeError, and never
allocates more than the payload. The schema is a page of data: rather than protoc output or another
package to keep in step with protobuf's releases, `message_classes()` builds Tahu's `Payload` with
protobuf's descriptor_pb2 and message_factory from the same table: the tests encode with it and check
that the walker reads what protobuf wrote. protobuf is imported only by that function.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from sniffer.fields import NOTE, WARN, FieldDef, Node
from sniffer.payload import fields as F
from sniffer.payload.context import Ctx, Malformed

# Tahu's sparkplug_b.proto (proto2): message -> (field prefix, ((number, name, kind, label), ...)).
# kind is the scalar type, or "msg" with the message type after a colon-free lookup in SUBMESSAGE.
SCHEMA: dict[str, tuple[str, tuple[tuple[int, str, str, str], ...]]] = {
    "Payload": (
        "",
        (
            (1, "timestamp", "uint64", "Timestamp"),
            (2, "metric", "msg", "Metric"),
            (3, "seq", "uint64", "Sequence Number"),
            (4, "uuid", "string", "UUID"),
            (5, "body", "bytes", "Body"),
        ),
    ),
    "Metric": (
        "metric.",
        (
            (1, "name", "string", "Name"),
            (2, "alias", "uint64", "Alias"),
            (3, "timestamp", "uint64", "Timestamp"),
            (4, "datatype", "uint32", "Datatype"),
            (5, "is_historical", "bool", "Is Historical"),
            (6, "is_transient", "bool", "Is Transient"),
            (7, "is_null", "bool", "Is Null"),
            (8, "metadata", "msg", "MetaData"),
            (9, "properties", "msg", "Properties"),
            (10, "int_value", "uint32", "Int Value"),
            (11, "long_value", "uint64", "Long Value"),
            (12, "float_value", "float", "Float Value"),
            (13, "double_value", "double", "Double Value"),
            (14, "boolean_value", "bool", "Boolean Value"),
            (15, "string_value", "string", "String Value"),
            (16, "bytes_value", "bytes", "Bytes Value"),
            (17, "dataset_value", "msg", "DataSet Value"),
            (18, "template_value", "msg", "Template Value"),
        ),
    ),
    "MetaData": (
        "metric.metadata.",
        (
            (1, "is_multi_part", "bool", "Is Multi Part"),
            (2, "content_type", "string", "Content Type"),
            (3, "size", "uint64", "Size"),
            (4, "seq", "uint64", "Sequence Number"),
            (5, "file_name", "string", "File Name"),
            (6, "file_type", "string", "File Type"),
            (7, "md5", "string", "MD5"),
            (8, "description", "string", "Description"),
        ),
    ),
    "PropertySet": ("propertyset.", ((1, "keys", "string", "Key"), (2, "values", "msg", "Value"))),
    "PropertyValue": (
        "propertyvalue.",
        (
            (1, "type", "uint32", "Type"),
            (2, "is_null", "bool", "Is Null"),
            (3, "int_value", "uint32", "Int Value"),
            (4, "long_value", "uint64", "Long Value"),
            (5, "float_value", "float", "Float Value"),
            (6, "double_value", "double", "Double Value"),
            (7, "boolean_value", "bool", "Boolean Value"),
            (8, "string_value", "string", "String Value"),
            (9, "propertyset_value", "msg", "PropertySet Value"),
            (10, "propertysets_value", "msg", "PropertySetList Value"),
        ),
    ),
    "PropertySetList": ("propertysetlist.", ((1, "propertyset", "msg", "PropertySet"),)),
    "DataSet": (
        "dataset.",
        (
            (1, "num_of_columns", "uint64", "Number of Columns"),
            (2, "columns", "string", "Column"),
            (3, "types", "uint32", "Type"),
            (4, "rows", "msg", "Row"),
        ),
    ),
    "Row": ("dataset.row.", ((1, "elements", "msg", "Element"),)),
    "DataSetValue": (
        "dataset.value.",
        (
            (1, "int_value", "uint32", "Int Value"),
            (2, "long_value", "uint64", "Long Value"),
            (3, "float_value", "float", "Float Value"),
            (4, "double_value", "double", "Double Value"),
            (5, "boolean_value", "bool", "Boolean Value"),
            (6, "string_value", "string", "String Value"),
        ),
    ),
    "Template": (
        "template.",
        (
            (1, "version", "string", "Version"),
            (2, "metrics", "msg", "Metric"),
            (3, "parameters", "msg", "Parameter"),
            (4, "template_ref", "string", "Template Ref"),
            (5, "is_definition", "bool", "Is Definition"),
        ),
    ),
    "Parameter": (
        "template.parameter.",
        (
            (1, "name", "string", "Name"),
            (2, "type", "uint32", "Type"),
            (3, "int_value", "uint32", "Int Value"),
            (4, "long_value", "uint64", "Long Value"),
            (5, "float_value", "float", "Float Value"),
            (6, "double_value", "double", "Double Value"),
            (7, "boolean_value", "bool", "Boolean Value"),
            (8, "string_value", "string", "String Value"),
        ),
    ),
}
# (message, field number) -> the message type of a "msg" field
SUBMESSAGE: dict[tuple[str, int], str] = {
    ("Payload", 2): "Metric",
    ("Metric", 8): "MetaData",
    ("Metric", 9): "PropertySet",
    ("Metric", 17): "DataSet",
    ("Metric", 18): "Template",
    ("PropertySet", 2): "PropertyValue",
    ("PropertyValue", 9): "PropertySet",
    ("PropertyValue", 10): "PropertySetList",
    ("PropertySetList", 1): "PropertySet",
    ("DataSet", 4): "Row",
    ("Row", 1): "DataSetValue",
    ("Template", 2): "Metric",
    ("Template", 3): "Parameter",
}
REPEATED: frozenset[tuple[str, int]] = frozenset(
    {("Payload", 2), ("PropertySet", 1), ("PropertySet", 2), ("PropertySetList", 1), ("DataSet", 2), ("DataSet", 3),
     ("DataSet", 4), ("Row", 1), ("Template", 2), ("Template", 3)}
)  # fmt: skip
# The fields of a message that are one `oneof value` in the schema
ONEOF_VALUE = {"Metric": range(10, 20), "PropertyValue": range(3, 12), "Parameter": range(3, 10),
               "DataSetValue": range(1, 8)}  # fmt: skip

FIELDS: dict[str, dict[int, FieldDef]] = {m: F.register_schema(p, fs) for m, (p, fs) in SCHEMA.items()}
KINDS: dict[str, dict[int, tuple[str, str, str]]] = {
    m: {n: (name, kind, label) for n, name, kind, label in fs} for m, (_p, fs) in SCHEMA.items()
}
_WIRE = {"uint64": 0, "uint32": 0, "bool": 0, "double": 1, "float": 5, "string": 2, "bytes": 2, "msg": 2}
MESSAGE_TYPES = ("NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD", "STATE")
MAX_DEPTH = 32  # messages nest through templates and property sets: bounded like every decoder


def _varint(d: bytes, p: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if p >= end:
            raise Malformed("varint cut off", p)
        b = d[p]
        p += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, p
        shift += 7
        if shift >= 70:
            raise Malformed("varint longer than 10 bytes", p)


def _ms_date(ms: int) -> str:
    """A Sparkplug timestamp (ms since the epoch) as a UTC date, or '' when it is none."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d} UTC"
    except (OverflowError, OSError, ValueError):
        return ""


def _scalar(ctx: Ctx, fd: FieldDef, kind: str, d: bytes, p: int, q: int, raw: Any) -> Node:
    """The item of one scalar field whose bytes are d[p:q] (raw: the varint, or None)."""
    value: Any
    if kind == "bool":
        value = bool(raw)
    elif kind == "uint32":
        value = raw & 0xFFFFFFFF
    elif kind == "uint64":
        value = raw & 0xFFFFFFFFFFFFFFFF
    elif kind == "double":
        value = struct.unpack_from("<d", d, p)[0]
    elif kind == "float":
        value = struct.unpack_from("<f", d, p)[0]
    elif kind == "string":
        try:
            value = d[p:q].decode("utf-8")
        except UnicodeDecodeError:
            n = ctx.node(fd, d[p:q].decode("utf-8", "replace"), p, q - p)
            n.children.append(ctx.note(WARN, f"{fd.name} is not valid UTF-8", p, q - p))
            return n
    else:
        value = d[p:q]
    text = None
    if kind in ("double", "float"):
        text = f"{fd.name}: {value!r}"
    elif kind == "bytes":
        text = f"{fd.name}: {bytes(value).hex() if value else '<empty>'}"
    elif fd.abbrev.endswith("timestamp"):
        date = _ms_date(value)
        text = f"{fd.name}: {value}" + (f" ({date})" if date else "")
    return ctx.node(fd, value, p, q - p, text)


def _message(ctx: Ctx, msg: str, d: bytes, p: int, end: int, parent: Node, depth: int) -> None:
    """Append the fields of one `msg` held in d[p:end] to parent."""
    if depth > MAX_DEPTH:
        raise Malformed(f"messages nested deeper than {MAX_DEPTH}", p)
    kinds, fields = KINDS[msg], FIELDS[msg]
    while p < end:
        start = p
        tag, p = _varint(d, p, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise Malformed("field number 0", start)
        spec = kinds.get(number)
        if wire == 0:
            raw, q = _varint(d, p, end)
        elif wire == 1 or wire == 5:
            q, raw = p + (8 if wire == 1 else 4), None
            if q > end:
                raise Malformed(f"field {number} cut off", start)
        elif wire == 2:
            ln, p = _varint(d, p, end)
            q, raw = p + ln, None
            if q > end:
                raise Malformed(f"field {number} declares {ln} bytes, {end - p} left", start)
        else:
            raise Malformed(f"wire type {wire} of field {number} is not used by Sparkplug B", start)
        if spec is None:  # an extension or a newer field: shown, skipped, as protobuf keeps unknown fields
            parent.children.append(ctx.label(f"Unknown field {number} (wire type {wire})", start, q - start))
            p = q
            continue
        name, kind, label = spec
        fd = fields[number]
        if kind == "msg":
            if wire != 2:
                raise Malformed(f"{label} is a message but has wire type {wire}", start)
            sub = SUBMESSAGE[(msg, number)]
            node = ctx.node(fd, None, start, q - start, label)
            parent.children.append(node)
            _message(ctx, sub, d, p, q, node, depth + 1)
            _title(node, sub)
        elif wire == 2 and _WIRE[kind] == 0:  # a packed repeated varint field
            r = p
            while r < q:
                v, r2 = _varint(d, r, q)
                parent.children.append(_scalar(ctx, fd, kind, d, r, r2, v))
                r = r2
        elif wire != _WIRE[kind]:
            raise Malformed(f"{label} has wire type {wire}, the schema says {_WIRE[kind]}", start)
        else:
            parent.children.append(_scalar(ctx, fd, kind, d, p, q, raw))
        p = q


def _title(node: Node, msg: str) -> None:
    """'Metric: Temperature (alias 3) = 21.5': what a reader looks for first."""
    if msg != "Metric":
        return
    name = alias = value = None
    for c in node.children:
        fd = c.fdef
        if fd is None:
            continue
        short = fd.abbrev[len("sparkplug.metric.") :]
        if short == "name":
            name = c.value
        elif short == "alias":
            alias = c.value
        elif short.endswith("_value") and short not in ("dataset_value", "template_value"):
            value = c.value
        elif short == "is_null" and c.value:
            value = "null"
    text = "Metric: " + (str(name) if name is not None else "(no name)")
    if alias is not None:
        text += f" (alias {alias})"
    if value is not None:
        text += f" = {value!r}" if isinstance(value, (str, bytes)) else f" = {value}"
    node.text = text


def topic_parts(topic: str) -> list[str] | None:
    """spBv1.0/group/TYPE/edge[/device] -> its parts; spBv1.0/STATE/host too; None if not Sparkplug B."""
    parts = topic.split("/")
    if parts[0] != "spBv1.0" or len(parts) < 3:
        return None
    return parts


def decode(ctx: Ctx, data: bytes, topic: str) -> Node:
    """The Sparkplug B subtree of one payload (a Malformed escapes with what was built in ctx.root)."""
    root = ctx.root = ctx.node(F.SPARKPLUG, "", 0, len(data), "Sparkplug B")
    parts = topic_parts(topic)
    if parts is not None:
        labels = (F.SPB_NAMESPACE, F.SPB_GROUPID, F.SPB_MESSAGETYPE, F.SPB_EDGENODEID, F.SPB_DEVICEID)
        if parts[1] == "STATE":  # spBv1.0/STATE/<host id>: the host application's state, JSON in 3.0
            labels = (F.SPB_NAMESPACE, F.SPB_MESSAGETYPE, F.SPB_EDGENODEID)
        for fd, part in zip(labels, parts, strict=False):
            root.children.append(ctx.generated(fd, part))
        mtype = parts[1] if parts[1] == "STATE" else parts[2]
        root.text = f"Sparkplug B, {mtype}"
        if mtype not in MESSAGE_TYPES:
            root.children.append(ctx.note(WARN, f"Unknown Sparkplug B message type '{mtype}'", 0, 0))
        if mtype == "STATE":
            root.children.append(ctx.note(NOTE, "A STATE message is not a protobuf payload", 0, 0))
            return root
    _message(ctx, "Payload", data, 0, len(data), root, 0)
    return root


def message_classes() -> dict[str, Any]:
    """Tahu's messages as protobuf classes (org.eclipse.tahu.protobuf), built from SCHEMA: {'Payload': cls, ...}."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="sparkplug_b.proto", package="org.eclipse.tahu.protobuf",
                                             syntax="proto2")  # fmt: skip
    scalar = {
        "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
        "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
        "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
        "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
        "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
        "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
        "msg": descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
    }
    for msg, (_prefix, fields) in SCHEMA.items():
        mp = fdp.message_type.add(name=msg)
        oneof = ONEOF_VALUE.get(msg)
        if oneof is not None:
            mp.oneof_decl.add(name="value")
        for number, name, kind, _label in fields:
            pbname = "metrics" if (msg, name) == ("Payload", "metric") else name
            f = mp.field.add(name=pbname, number=number, type=scalar[kind])
            repeated = (msg, number) in REPEATED
            f.label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
            if kind == "msg":
                f.type_name = f".org.eclipse.tahu.protobuf.{SUBMESSAGE[(msg, number)]}"
            if oneof is not None and number in oneof:
                f.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        m: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"org.eclipse.tahu.protobuf.{m}")) for m in SCHEMA
    }
