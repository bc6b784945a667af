"""Every mqtt.* field, registered once into sniffer.fields.REGISTRY.

Abbrevs, labels, types, bases and masks are Wireshark 4.0's (`tshark -G fields`),
so `-T fields` output and display filters carry over.  Wireshark shows most MQTT 5
property values through generic fields (mqtt.prop_number, mqtt.prop_string, ...);
each property additionally gets its own field `mqtt.property.<snake_name>` here
(Wireshark itself has three of them: content_type, max_qos, topic_alias).
"""

from __future__ import annotations

from sniffer.fields import FT, Base, FieldDef, register
from sniffer.mqtt import constants as C

U, S, B, BY, N = FT.UINT, FT.STRING, FT.BOOLEAN, FT.BYTES, FT.NONE
DEC, HEX = Base.DEC, Base.HEX

PROTO = register("mqtt", "MQ Telemetry Transport Protocol", FT.PROTOCOL, Base.NONE)

# Fixed header
LEN = register("mqtt.len", "Msg Len", U, DEC, size=8)
HDRFLAGS = register("mqtt.hdrflags", "Header Flags", U, HEX)
MSGTYPE = register("mqtt.msgtype", "Message Type", U, DEC, values=C.MSGTYPE_NAMES, mask=0xF0)
HDR_RESERVED = register("mqtt.hdr_reserved", "Reserved", U, DEC, mask=0x0F, blurb="Fixed Header Reserved Field")
RETAIN_RESERVED = register("mqtt.retain_reserved", "Reserved", U, DEC, mask=0x01, blurb="Fixed Header Reserved Field")
DUPFLAG = register("mqtt.dupflag", "DUP Flag", B, mask=0x08)
QOS = register("mqtt.qos", "QoS Level", U, DEC, values=C.QOS_NAMES, mask=0x06)
RETAIN = register("mqtt.retain", "Retain", B, mask=0x01)

# CONNACK
CONACK_FLAGS_RESERVED = register("mqtt.conack.flags.reserved", "Reserved", B)
CONACK_FLAGS = register("mqtt.conack.flags", "Acknowledge Flags", U, HEX)
CONACK_FLAGS_SP = register(
    "mqtt.conack.flags.sp", "Session Present", B, mask=0x01, blurb="Session Present (version 3.1.1)"
)
CONACK_VAL = register("mqtt.conack.val", "Return Code", U, DEC, values=C.CONNACK_RETURN_NAMES)

MSGID = register("mqtt.msgid", "Message Identifier", U, DEC, size=2)
SUB_QOS = register("mqtt.sub.qos", "Requested QoS", U, DEC, values=C.QOS_NAMES)
SUBACK_QOS = register("mqtt.suback.qos", "Granted QoS", U, DEC, values=C.SUBACK_QOS_NAMES)
TOPIC_LEN = register("mqtt.topic_len", "Topic Length", U, DEC, size=2)
TOPIC = register("mqtt.topic", "Topic", S, Base.NONE)
WILLTOPIC_LEN = register("mqtt.willtopic_len", "Will Topic Length", U, DEC, size=2)
WILLTOPIC = register("mqtt.willtopic", "Will Topic", S, Base.NONE)
WILLMSG = register("mqtt.willmsg", "Will Message", BY, Base.NONE)
WILLMSG_TEXT = register("mqtt.willmsg_text", "Will Message", S, Base.NONE)
WILLMSG_LEN = register("mqtt.willmsg_len", "Will Message Length", U, DEC, size=2)
USERNAME_LEN = register("mqtt.username_len", "User Name Length", U, DEC, size=2)
USERNAME = register("mqtt.username", "User Name", S, Base.NONE)
PASSWD_LEN = register("mqtt.passwd_len", "Password Length", U, DEC, size=2)
PASSWD = register("mqtt.passwd", "Password", S, Base.NONE, secret=True)
MSG = register("mqtt.msg", "Message", BY, Base.NONE)
MSG_TEXT = register("mqtt.msg_text", "Message", S, Base.NONE)
MSG_DECODED_AS = register("mqtt.msg_decoded_as", "Message decoded as", S, Base.NONE)

# CONNECT
PROTO_LEN = register("mqtt.proto_len", "Protocol Name Length", U, DEC, size=2)
PROTONAME = register("mqtt.protoname", "Protocol Name", S, Base.NONE)
CLIENTID_LEN = register("mqtt.clientid_len", "Client ID Length", U, DEC, size=2)
CLIENTID = register("mqtt.clientid", "Client ID", S, Base.NONE)
VER = register("mqtt.ver", "Version", U, DEC, values=C.VERSION_NAMES, blurb="MQTT version")
CONFLAGS = register("mqtt.conflags", "Connect Flags", U, HEX)
CONFLAG_UNAME = register("mqtt.conflag.uname", "User Name Flag", B, mask=0x80)
CONFLAG_PASSWD = register("mqtt.conflag.passwd", "Password Flag", B, mask=0x40)
CONFLAG_RETAIN = register("mqtt.conflag.retain", "Will Retain", B, mask=0x20)
CONFLAG_QOS = register("mqtt.conflag.qos", "QoS Level", U, DEC, values=C.QOS_NAMES, mask=0x18)
CONFLAG_WILLFLAG = register("mqtt.conflag.willflag", "Will Flag", B, mask=0x04)
CONFLAG_CLEANSESS = register("mqtt.conflag.cleansess", "Clean Session Flag", B, mask=0x02)
CONFLAG_RESERVED = register("mqtt.conflag.reserved", "(Reserved)", B, mask=0x01)
KALIVE = register("mqtt.kalive", "Keep Alive", U, DEC, size=2)

# SUBSCRIBE options (MQTT 5)
SUBOPTS = register("mqtt.subscription_options", "Subscription Options", U, HEX)
SUBOPTS_QOS = register("mqtt.subscription_options_qos", "QoS", U, DEC, values=C.QOS_NAMES, mask=0x03)
SUBOPTS_NL = register("mqtt.subscription_options_nl", "No Local", B, mask=0x04)
SUBOPTS_RAP = register("mqtt.subscription_options_rap", "Retain As Published", B, mask=0x08)
SUBOPTS_RETAIN = register(
    "mqtt.subscription_options_retain", "Retain Handling", U, DEC, values=C.RETAIN_HANDLING_NAMES, mask=0x30
)
SUBOPTS_RESERVED = register("mqtt.subscription_options_reserved", "Reserved", U, HEX, mask=0xC0)

# MQTT 5 reason codes, one field per packet type as Wireshark has them.
REASON_CODE: dict[int, FieldDef] = {
    t: register(f"mqtt.{n}.reason_code", "Reason Code", U, DEC, values=C.REASON_NAMES[t], blurb="MQTT Reason Code")
    for t, n in (
        (C.CONNACK, "connack"),
        (C.PUBACK, "puback"),
        (C.PUBREC, "pubrec"),
        (C.PUBREL, "pubrel"),
        (C.PUBCOMP, "pubcomp"),
        (C.SUBACK, "suback"),
        (C.UNSUBACK, "unsuback"),
        (C.DISCONNECT, "disconnect"),
        (C.AUTH, "auth"),
    )
}

# MQTT 5 properties, Wireshark's generic fields
PROPERTIES = register("mqtt.properties", "Properties", N, Base.NONE)
WILL_PROPERTIES = register("mqtt.will_properties", "Will Properties", N, Base.NONE)
PROPERTY_LEN = register("mqtt.property_len", "Total Length", U, DEC, size=8)
PROPERTY_ID = register("mqtt.property_id", "ID", U, HEX, values=C.PROPERTY_NAMES, blurb="Property Id")
PROP_NUMBER = register("mqtt.prop_number", "Value", U, DEC, size=4)
PROP_UNKNOWN = register("mqtt.prop_unknown", "Unknown Property", S, Base.NONE)
PROP_STRING_LEN = register("mqtt.prop_string_len", "Length", U, DEC, size=4)
PROP_STRING = register("mqtt.prop_string", "Value", S, Base.NONE)
# MQTT 5 Authentication Data is a credential like the password: its property item and its value are
# secret. The value is the same field (mqtt.prop_string, not registered twice), masked in every output.
AUTH_DATA_ID = 0x16
PROP_SECRET_STRING = FieldDef("mqtt.prop_string", "Value", S, Base.NONE, secret=True)
PROP_KEY_LEN = register("mqtt.prop_key_len", "Key Length", U, DEC, size=4)
PROP_KEY = register("mqtt.prop_key", "Key", S, Base.NONE)
PROP_VALUE_LEN = register("mqtt.prop_value_len", "Value Length", U, DEC, size=4)
PROP_VALUE = register("mqtt.prop_value", "Value", S, Base.NONE)

# Expert infos Wireshark registers as fields (FT_NONE in `tshark -G fields`).
ILLEGAL_TOPIC_LENGTH = register("mqtt.illegal_topic_length", "Length cannot be 0", N, Base.NONE)
UNKNOWN_VERSION = register("mqtt.unknown_version", "Unknown version (missing the CONNECT packet?)", N, Base.NONE)
UNKNOWN_TOPIC_ALIAS = register("mqtt.unknown_topic_alias", "Unknown topic alias", N, Base.NONE)

# One field per property.  Wireshark's own three keep their Wireshark definition.
_KIND_FT = {
    C.BYTE: (U, DEC, 1),
    C.U16: (U, DEC, 2),
    C.U32: (U, DEC, 4),
    C.VARINT: (U, DEC, 4),
    C.UTF8: (S, Base.NONE, 0),
    C.BINARY: (BY, Base.NONE, 0),
    C.PAIR: (S, Base.NONE, 0),  # value "key=value"; key and value also as mqtt.prop_key / mqtt.prop_value
}
_WIRESHARK_OWN = {
    0x03: register("mqtt.property.content_type", "Content Type", S, Base.NONE),
    0x24: register("mqtt.property.max_qos", "QoS", U, DEC, values=C.QOS_NAMES),
    0x23: register("mqtt.property.topic_alias", "Topic Alias", U, DEC, size=2),
}
_VALUE_NAMES = {0x01: C.PAYLOAD_FORMAT_NAMES}
PROPERTY_FIELD: dict[int, FieldDef] = {}
for _pid, (_name, _snake, _kind, _where) in C.PROPERTIES.items():
    if _pid in _WIRESHARK_OWN:
        PROPERTY_FIELD[_pid] = _WIRESHARK_OWN[_pid]
        continue
    _ft, _base, _size = _KIND_FT[_kind]
    PROPERTY_FIELD[_pid] = register(
        f"mqtt.property.{_snake}",
        _name,
        _ft,
        _base,
        size=max(_size, 1),
        values=_VALUE_NAMES.get(_pid),
        secret=_pid == AUTH_DATA_ID,
    )
# Properties whose per-property field IS Wireshark's value field (no separate wrapper field).
WIRESHARK_VALUE_FIELD = frozenset(_WIRESHARK_OWN)
