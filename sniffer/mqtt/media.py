"""MQTT 5 Content Types that change tshark's summary line, and how (the media-type dissectors it hands a payload to).

tshark 4.0 looks a PUBLISH's Content Type up in its "media_type" table: the whole property value, case aside
(`application/json; charset=utf-8` finds nothing). Three families of dissectors there change the line whatever
the payload holds, and the lists below are what tshark 4.0 was measured to do with each of 232 candidate types
(`tests/test_content_type_summary.py` compares every entry with tshark):

- JSON: Protocol `MQTT/JSON`, the PDU's Info followed by `, JavaScript Object Notation (<type as sent>)`;
- line-based text: the PDU's Info followed by ` (<type as sent>)`;
- XML: Protocol `MQTT/XML` (or the name of the DTD the type belongs to) when the payload has two bytes or more;
  with fewer, tshark's XML dissector throws and it prints `[Malformed Packet]` (a Wireshark quirk: we do not).

Other types it knows (application/sdp, OCSP, DNS over HTTPS, WAP binary XML, ISUP, ...) change its line by what
their dissectors make of the payload; mqttsniff's line names the MQTT message only (README, "Where mqttsniff and
Wireshark differ").
"""

from __future__ import annotations

from typing import Final

JSON: Final = 1
TEXT: Final = 2
XML: Final = 3

_JSON_TYPES: Final = (
    "application/json",
    "application/json-rpc",
    "application/jsonrequest",
    "application/dds-web+json",
    "application/vnd.oma.lwm2m+json",
    "application/problem+json",
    "application/senml+json",
    "application/sensml+json",
    "application/merge-patch+json",
    "application/json-patch+json",
)
_TEXT_TYPES: Final = (
    "text/plain",
    "text/html",
    "text/css",
    "text/richtext",
    "text/enriched",
    "text/javascript",
    "text/vnd.sun.j2me.app-descriptor",
    "application/x-javascript",
    "application/x-www-form-urlencoded",
    "application/x-ns-proxy-autoconfig",
    "application/vnd.poc.refer-to",
    "application/vnd.drm.message",
    "application/x-rtsp-udp-packetpair",
    "application/xml-external-parsed-entity",
    "message/http",
)
_XML_TYPES: Final = (
    "text/xml",
    "application/xml",
    "application/xml-dtd",
    "application/soap+xml",
    "application/atom+xml",
    "application/rss+xml",
    "application/rdf+xml",
    "application/xslt+xml",
    "application/mathml+xml",
    "image/svg+xml",
    "application/pidf+xml",
    "application/xpidf+xml",
    "application/rlmi+xml",
    "application/resource-lists+xml",
    "application/rls-services+xml",
    "application/reginfo+xml",
    "application/watcherinfo+xml",
    "application/conference-info+xml",
    "application/simple-filter+xml",
    "application/auth-policy+xml",
    "application/pidf-diff+xml",
    "application/im-iscomposing+xml",
    "application/poc-settings+xml",
    "application/simservs+xml",
    "application/xcap-att+xml",
    "application/xcap-caps+xml",
    "application/xcap-diff+xml",
    "application/xcap-el+xml",
    "application/xcap-error+xml",
    "application/xcap-ns+xml",
    "application/vnd.wv.csp.xml",
    "application/vnd.wv.csp+xml",
    "application/vnd.etsi.aoc+xml",
    "application/vnd.3gpp.sms+xml",
    "application/3gpp-ims+xml",
    "application/ccmp+xml",
    "application/load-control+xml",
    "application/vnd.oma.xcap-directory+xml",
    "application/x-crd+xml",
    "application/x-wms-logconnectstats",
    "application/x-wms-logplaystats",
    "application/x-wms-sendevent",
    "text/vnd.wap.wml",
    "text/vnd.wap.si",
    "text/vnd.wap.sl",
    "text/vnd.wap.co",
    "text/vnd.wap.emn",
    "application/vnd.3gpp.mcptt-info+xml",
    "application/vnd.3gpp.mcptt-location-info+xml",
    "application/vnd.3gpp.mcptt-signed+xml",
    "application/vnd.3gpp.mcptt-mbms-usage-info+xml",
    "application/vnd.3gpp.mcptt-affiliation-command+xml",
    "application/vnd.3gpp.mcptt-floor-request+xml",
    "application/vnd.3gpp.mcptt-ue-config+xml",
    "application/vnd.3gpp.mcptt-ue-init-config+xml",
    "application/vnd.3gpp.mcptt-user-profile+xml",
    "application/vnd.3gpp.mcptt-service-config+xml",
    "application/vnd.3gpp.mcdata-info+xml",
    "application/vnd.3gpp.mcvideo-info+xml",
    "application/vnd.3gpp.access-transfer-events+xml",
    "application/vnd.3gpp.cw+xml",
    "application/vnd.3gpp.srvcc-ext+xml",
    "application/vnd.3gpp.state-and-event-info+xml",
    "application/vnd.3gpp.ussd+xml",
    "application/vnd.3gpp.iut+xml",
    "application/vnd.3gpp.mid-call+xml",
    "application/vnd.etsi.iptvcommand+xml",
    "application/vnd.etsi.cug+xml",
    "application/vnd.etsi.pstn+xml",
    "application/vnd.etsi.sci+xml",
    "application/vnd.etsi.mcid+xml",
    "application/vnd.oma.poc.detailed-progress-report+xml",
    "application/vnd.oma.poc.final-report+xml",
    "application/vnd.oma.poc.groups+xml",
    "application/vnd.oma.poc.invocation-descriptor+xml",
    "application/vnd.oma.poc.optimized-progress-report+xml",
    "application/vnd.oma.suppnot+xml",
    "application/media_control+xml",
    "application/smil",
    "application/cpim-pidf+xml",
    "application/mediaservercontrol+xml",
)
# XML types whose DTD (in Wireshark's dtds folder) names the protocol
XML_NAMES: Final = {
    "application/smil": "MQTT/SMIL",
    "application/cpim-pidf+xml": "MQTT/PRESENCE",
    "application/mediaservercontrol+xml": "MQTT/MEDIASERVERCONTROL",
}
# lower-cased type -> its family
KINDS: Final = {
    **dict.fromkeys(_JSON_TYPES, JSON),
    **dict.fromkeys(_TEXT_TYPES, TEXT),
    **dict.fromkeys(_XML_TYPES, XML),
}
RAW_KINDS: Final = {k.encode(): v for k, v in KINDS.items()}  # the same, as the property's bytes (looked up)

# What tshark's frame.protocols lists after `mqtt` for a payload of each type (measured with every candidate type
# and five payloads): JSON types `json` (then `data-text-lines` for what its parser could not read:
# sniffer.mqtt.json_grammar), text types `data-text-lines` (two of them name their own), XML types `xml`, and
# two families that change no summary line: CBOR `cbor`, application/octet-stream `data`. An empty payload lists
# nothing, except for `xml` and `cbor`, whose dissectors keep their layer on nothing too. Types whose dissectors
# list what they make of the payload (SDP, OCSP, multipart, ...) are not named (README: where we differ).
_OWN_TEXT: Final = {"application/x-www-form-urlencoded": "urlencoded-form", "message/http": "message-http"}
LAYERS: Final = {
    **{t: "json" for t in _JSON_TYPES},
    **{t: _OWN_TEXT.get(t, "data-text-lines") for t in _TEXT_TYPES},
    **{t: "xml" for t in _XML_TYPES},
    "application/cbor": "cbor",
    "application/senml+cbor": "cbor",
    "application/octet-stream": "data",
}
RAW_LAYERS: Final = {k.encode(): v for k, v in LAYERS.items()}
LAYERS_ON_EMPTY: Final = frozenset(("xml", "cbor"))
