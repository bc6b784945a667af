"""Every field of the payload decoders, registered once (JSON, CBOR, MessagePack, Sparkplug B).

Names are Wireshark 4.0's where it has them (`tshark -G fields`): json.*, the cbor.type.* values,
msgpack.*, sparkplugb.* for the parts of a Sparkplug topic. Wireshark decodes a Sparkplug payload
only as raw protobuf, so its fields are named here after the Tahu schema, `sparkplug.<field>` for
the Payload and `sparkplug.metric.<field>` for a Metric (sparkplug.seq, sparkplug.metric.name, ...).
Registering costs a few hundred small objects at start-up; the decoders themselves load lazily.
"""

from __future__ import annotations

from typing import Final

from sniffer.fields import FT, Base, FieldDef, register

S, U, SI, B, BY, N, D, P = FT.STRING, FT.UINT, FT.INT, FT.BOOLEAN, FT.BYTES, FT.NONE, FT.FLOAT, FT.PROTOCOL
NB, DEC = Base.NONE, Base.DEC

# JSON, as Wireshark's JSON dissector (json.value.number is the number's text, as there)
JSON: Final = register("json", "JavaScript Object Notation", P, NB)
JSON_OBJECT: Final = register("json.object", "Object", N, NB)
JSON_ARRAY: Final = register("json.array", "Array", N, NB)
JSON_MEMBER: Final = register("json.member", "Member", S, NB)
JSON_KEY: Final = register("json.key", "Key", S, NB)
JSON_PATH: Final = register("json.path", "Path", S, NB)
JSON_PATH_WITH_VALUE: Final = register("json.path_with_value", "Path with value", S, NB)
JSON_MEMBER_WITH_VALUE: Final = register("json.member_with_value", "Member with value", S, NB)
JSON_STRING: Final = register("json.value.string", "String value", S, NB)
JSON_NUMBER: Final = register("json.value.number", "Number value", S, NB)
JSON_FALSE: Final = register("json.value.false", "False value", N, NB)
JSON_NULL: Final = register("json.value.null", "Null value", N, NB)
JSON_TRUE: Final = register("json.value.true", "True value", N, NB)

# CBOR: containers and the typed values of Wireshark's CBOR dissector
CBOR: Final = register("cbor", "Concise Binary Object Representation", P, NB)
CBOR_MAP: Final = register("cbor.item.map", "Map", N, NB)
CBOR_ARRAY: Final = register("cbor.item.array", "Array", N, NB)
CBOR_TAG_ITEM: Final = register("cbor.item.tag", "Tag", N, NB)
CBOR_UINT: Final = register("cbor.type.uint", "Unsigned Integer", U, DEC, size=8)
CBOR_NINT: Final = register("cbor.type.nint", "Negative Integer", SI, DEC, size=8)
CBOR_BYTES: Final = register("cbor.type.bytestring", "Byte String", BY, NB)
CBOR_TEXT: Final = register("cbor.type.textstring", "Text String", S, NB)
CBOR_TAG: Final = register("cbor.type.tag", "Tag", U, DEC, size=8)
CBOR_SIMPLE: Final = register("cbor.type.simple_data", "Simple data", U, DEC)
CBOR_FLOAT16: Final = register("cbor.type.float16", "Float 16 Bit", D, NB)
CBOR_FLOAT32: Final = register("cbor.type.float32", "Float 32 Bit", D, NB)
CBOR_FLOAT64: Final = register("cbor.type.float64", "Float 64 Bit", D, NB)

# MessagePack (Wireshark's names; map, array, nil and bin are ours: Wireshark has none)
MSGPACK: Final = register("msgpack", "Message Pack", P, NB)
MSGPACK_MAP: Final = register("msgpack.map", "Map", N, NB)
MSGPACK_ARRAY: Final = register("msgpack.array", "Array", N, NB)
MSGPACK_STRING: Final = register("msgpack.string", "String", S, NB)
MSGPACK_BIN: Final = register("msgpack.bin", "Binary", BY, NB)
MSGPACK_NIL: Final = register("msgpack.nil", "Nil", N, NB)
MSGPACK_BOOLEAN: Final = register("msgpack.boolean", "Boolean", B, NB)
MSGPACK_FLOAT: Final = register("msgpack.float", "Float", D, NB)
MSGPACK_UINT: Final = {w: register(f"msgpack.integer.u{w}", "Integer", U, DEC, size=w // 8) for w in (8, 16, 32, 64)}
MSGPACK_INT: Final = {w: register(f"msgpack.integer.{w}", "Integer", SI, DEC, size=w // 8) for w in (8, 16, 32, 64)}
MSGPACK_EXT: Final = register("msgpack.ext", "Ext", BY, NB)
MSGPACK_EXT_TYPE: Final = register("msgpack.ext.type", "Ext type", SI, DEC)

# Sparkplug B: the topic's parts (Wireshark's sparkplugb.*), then the payload (Tahu's schema)
SPARKPLUG: Final = register("sparkplug", "Sparkplug B", P, NB)
SPB_NAMESPACE: Final = register("sparkplugb.namespace", "Namespace", S, NB)
SPB_GROUPID: Final = register("sparkplugb.groupid", "Group ID", S, NB)
SPB_MESSAGETYPE: Final = register("sparkplugb.messagetype", "Message Type", S, NB)
SPB_EDGENODEID: Final = register("sparkplugb.edgenodeid", "Edge Node ID", S, NB)
SPB_DEVICEID: Final = register("sparkplugb.deviceid", "Device ID", S, NB)

# The Tahu data types (sparkplug_b.proto, enum DataType), for metric.datatype and friends
DATATYPES: Final = {
    0: "Unknown",
    1: "Int8",
    2: "Int16",
    3: "Int32",
    4: "Int64",
    5: "UInt8",
    6: "UInt16",
    7: "UInt32",
    8: "UInt64",
    9: "Float",
    10: "Double",
    11: "Boolean",
    12: "String",
    13: "DateTime",
    14: "Text",
    15: "UUID",
    16: "DataSet",
    17: "Bytes",
    18: "File",
    19: "Template",
    20: "PropertySet",
    21: "PropertySetList",
    22: "Int8Array",
    23: "Int16Array",
    24: "Int32Array",
    25: "Int64Array",
    26: "UInt8Array",
    27: "UInt16Array",
    28: "UInt32Array",
    29: "UInt64Array",
    30: "FloatArray",
    31: "DoubleArray",
    32: "BooleanArray",
    33: "StringArray",
    34: "DateTimeArray",
}

_PB_FT = {"uint64": U, "uint32": U, "bool": B, "string": S, "bytes": BY, "float": D, "double": D, "msg": N}


def register_schema(prefix: str, fields: tuple[tuple[int, str, str, str], ...]) -> dict[int, FieldDef]:
    """One field per field of a Sparkplug message: number -> FieldDef `sparkplug.<prefix><name>`."""
    out: dict[int, FieldDef] = {}
    for number, name, kind, label in fields:
        values = DATATYPES if name in ("datatype", "type") else None
        size = 8 if kind == "uint64" else 4
        out[number] = register(f"sparkplug.{prefix}{name}", label, _PB_FT[kind], DEC, size=size, values=values)
    return out


# The bytes a compressed payload decompressed to (Wireshark shows them as a data source of that name)
UNCOMPRESSED: Final = register("mqtt.msg_uncompressed", "Uncompressed Message", BY, NB)
PAYLOAD_PROTOCOLS: Final = frozenset({"json", "cbor", "msgpack", "sparkplug", "sparkplugb"})
