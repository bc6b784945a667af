"""Payload decoders: a PUBLISH message as a subtree of typed items under the MQTT tree's Message.

`attach(mqtt_root, topic)` picks a decoder (sniffer.payload.choose: the user's topic filters, the
MQTT 5 content type and payload format indicator, the Sparkplug namespace, an unambiguous JSON
document), runs it and hangs what it made under the Message item, with Wireshark's
`[Message decoded as: NAME]` beside it. It runs only where a tree is built and something asks for
the payload (NEEDS_PAYLOAD): the summary pass and plain `-T fields` never come here. A decoder
module is imported when the first payload of its kind is decoded. Nothing here raises: a payload
that fails its decoder shows what was read and a "Malformed payload" expert note.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sniffer.fields import Node, item
from sniffer.payload import sparkplug as _sparkplug  # noqa: F401  (registers the sparkplug.* fields)
from sniffer.payload.fields import PAYLOAD_PROTOCOLS

CREDENTIAL_PROTOCOLS: Final = frozenset({"aliyun", "azure", "aws"})  # sniffer.credentials (a CONNECT's, same demand)

# The pseudo-layer a tree is asked for when an output needs decoded payloads but no payload field
# of a protocol (mqtt.msg_decoded_as, mqtt.msg_text); the payload protocols imply it.
LAYER: Final = "payload"
MQTT_PAYLOAD_FIELDS: Final = frozenset({"mqtt.msg_decoded_as", "mqtt.msg_text", "mqtt.msg_uncompressed"})


def layers_for(abbrev: str) -> set[str]:
    """The tree layers a field needs besides its own protocol: a payload field needs MQTT decoded."""
    if abbrev in MQTT_PAYLOAD_FIELDS or abbrev.split(".", 1)[0] in PAYLOAD_PROTOCOLS | CREDENTIAL_PROTOCOLS:
        return {"mqtt", LAYER}
    return set()


def wanted(protocols: Iterable[str] | None) -> bool:
    """Whether a tree limited to `protocols` (None: all of it) shows decoded payloads."""
    if protocols is None:
        return True
    ps = set(protocols)
    return LAYER in ps or not ps.isdisjoint(PAYLOAD_PROTOCOLS) or not ps.isdisjoint(CREDENTIAL_PROTOCOLS)


def attach(root: Node, topic: str) -> None:
    """Decode the message of one PUBLISH's MQTT subtree into it (nothing if it has no message)."""
    from sniffer.mqtt import fields as MF

    kids = root.children
    at = len(kids) - 1
    while at >= 0 and kids[at].fdef is not MF.MSG:
        at -= 1
    if at < 0:
        return
    msg = kids[at]
    data = msg.value if isinstance(msg.value, bytes) else bytes(msg.value or b"")
    content_type: str | None = None
    pfi = 0
    ct_field, pfi_field = MF.PROPERTY_FIELD[0x03], MF.PROPERTY_FIELD[0x01]
    for block in kids:
        if block.fdef is MF.PROPERTIES:
            for n in block.walk():
                if n.fdef is ct_field:
                    content_type = str(n.value)
                elif n.fdef is pfi_field and isinstance(n.value, int):
                    pfi = n.value
    from sniffer.payload.decode import decode_message

    made = decode_message(data, topic, content_type, pfi, msg.start, msg.length, msg.source)
    if made is None:
        return
    name, why, nodes = made
    shown = item(MF.MSG_DECODED_AS, name, msg.start, msg.length, msg.source,
                 text=f"[{MF.MSG_DECODED_AS.name}: {name}] ({why})")  # fmt: skip
    msg.children.extend(nodes)
    kids.insert(at + 1, shown)
