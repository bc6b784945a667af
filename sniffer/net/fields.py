"""Field registrations for the layers below MQTT (frame, eth, vlan, sll, null, ip, ipv6, tcp).

Abbrevs, labels, types, bases and masks are Wireshark 4.0's (`tshark -G fields`), so
`-T fields -e ip.src` and display filters carry over. Imported by sniffer.net.tree.
"""

from __future__ import annotations

from sniffer.fields import FT, Base, register

U, INT, S, B, BY, N = FT.UINT, FT.INT, FT.STRING, FT.BOOLEAN, FT.BYTES, FT.NONE
DEC, HEX = Base.DEC, Base.HEX
P = FT.PROTOCOL

ETHERTYPE_NAMES = {
    0x0800: "IPv4",
    0x86DD: "IPv6",
    0x0806: "ARP",
    0x8100: "802.1Q Virtual LAN",
    0x88A8: "802.1ad Provider Bridge (Q-in-Q)",
}
IP_PROTO_NAMES = {0: "IPv6 Hop-by-Hop Option", 1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 43: "Routing Header for IPv6"}
IP_PROTO_NAMES.update(
    {
        44: "Fragment Header for IPv6",
        47: "GRE",
        50: "ESP",
        51: "Authentication Header",
        58: "ICMPv6",
        59: "IPv6 No Next",
    }
)
IP_PROTO_NAMES.update({60: "Destination Options for IPv6", 132: "SCTP"})
# hardware types (ARP's; Linux's ARPHRD_* in a cooked capture) a Linux host or gateway shows, as tshark names them
ARPHRD_NAMES = {
    1: "Ethernet", 6: "IEEE 802", 24: "IEEE 1394.1995", 32: "InfiniBand", 280: "Controller Area Network", 512: "PPP",
    519: "Raw IP", 768: "IPIP tunnel", 769: "IP6IP6 tunnel", 772: "Loopback", 776: "sit0 device - IPv6-in-IPv4",
    778: "GRE over IP", 801: "IEEE 802.11", 803: "IEEE 802.11 + radiotap header", 804: "IEEE 802.15.4",
    823: "GRE over IPv6", 824: "Netlink", 825: "IPv6 over LoWPAN", 65534: "zero header length",
    65535: "Void type, nothing is known",
}  # fmt: skip
ARP_OPCODES = {
    0: "reserved", 1: "request", 2: "reply", 3: "reverse request", 4: "reverse reply", 5: "drarp request",
    6: "drarp reply", 7: "drarp error", 8: "inverse request", 9: "inverse reply", 10: "arp nak",
    11: "mars request", 12: "mars multi", 13: "mars mserv", 14: "mars join", 15: "mars leave", 16: "mars nak",
    17: "mars unserv", 18: "mars sjoin", 19: "mars sleave", 20: "mars grouplist request",
    21: "mars grouplist reply", 22: "mars redirect map", 23: "mapos unarp", 24: "experimental 1",
    25: "experimental 2", 65535: "reserved",
}  # fmt: skip
CHECKSUM_STATUS = {0: "Bad", 1: "Good", 2: "Unverified", 3: "Not present", 4: "Illegal"}

# frame
FRAME = register("frame", "Frame", P, Base.NONE)
FRAME_ENCAP = register("frame.encap_type", "Encapsulation type", INT, DEC, size=2)
FRAME_TIME = register("frame.time", "Arrival Time", FT.ABSTIME, Base.NONE)
FRAME_TIME_EPOCH = register("frame.time_epoch", "Epoch Time", FT.DOUBLE, Base.NONE)
# mqttsniff shifts no time (tshark's --time-shift): always 0, shown as every tshark -V shows it
FRAME_OFFSET_SHIFT = register("frame.offset_shift", "Time shift for this packet", FT.DOUBLE, Base.NONE)
FRAME_TIME_DELTA = register("frame.time_delta", "Time delta from previous captured frame", FT.DOUBLE, Base.NONE)
FRAME_TIME_DELTA_DISP = register(
    "frame.time_delta_displayed", "Time delta from previous displayed frame", FT.DOUBLE, Base.NONE
)
FRAME_TIME_REL = register("frame.time_relative", "Time since reference or first frame", FT.DOUBLE, Base.NONE)
FRAME_NUMBER = register("frame.number", "Frame Number", U, DEC, size=4)
# a pcapng frame's interface (sniffer.pipeline): a source merged from several is named "gw1:eth0"
FRAME_SECTION_NUMBER = register("frame.section_number", "Section number", U, DEC, size=4)
FRAME_INTERFACE_ID = register("frame.interface_id", "Interface id", U, DEC, size=4)
FRAME_INTERFACE_NAME = register("frame.interface_name", "Interface name", S, Base.NONE)
FRAME_INTERFACE_DESCRIPTION = register("frame.interface_description", "Interface description", S, Base.NONE)
FRAME_LEN = register("frame.len", "Frame length on the wire", U, DEC, size=4)
FRAME_CAP_LEN = register("frame.cap_len", "Frame length stored into the capture file", U, DEC, size=4)
FRAME_MARKED = register("frame.marked", "Frame is marked", B)
FRAME_IGNORED = register("frame.ignored", "Frame is ignored", B)
FRAME_PROTOCOLS = register("frame.protocols", "Protocols in frame", S, Base.NONE)

# Ethernet
ETH = register("eth", "Ethernet II", P, Base.NONE)
ETH_DST = register("eth.dst", "Destination", FT.ETHER, Base.NONE)
ETH_SRC = register("eth.src", "Source", FT.ETHER, Base.NONE)
ETH_ADDR = register("eth.addr", "Address", FT.ETHER, Base.NONE)
ETH_TYPE = register("eth.type", "Type", U, HEX, size=2, values=ETHERTYPE_NAMES)
ETH_LG = register("eth.lg", "LG bit", B, mask=0x020000)
ETH_IG = register("eth.ig", "IG bit", B, mask=0x010000)
# hidden items under each address (tshark -T json lists them; -T fields and -Y find them): the name as
# resolved (sniffer.net.names; the bare address with -n), the 24-bit OUI and its vendor's long name
ETH_DST_RESOLVED = register("eth.dst_resolved", "Destination (resolved)", S, Base.NONE)
ETH_SRC_RESOLVED = register("eth.src_resolved", "Source (resolved)", S, Base.NONE)
ETH_ADDR_RESOLVED = register("eth.addr_resolved", "Address (resolved)", S, Base.NONE)
ETH_DST_OUI = register("eth.dst.oui", "Destination OUI", U, DEC, size=3)
ETH_SRC_OUI = register("eth.src.oui", "Source OUI", U, DEC, size=3)
ETH_ADDR_OUI = register("eth.addr.oui", "Address OUI", U, DEC, size=3)
ETH_DST_OUI_RESOLVED = register("eth.dst.oui_resolved", "Destination OUI (resolved)", S, Base.NONE)
ETH_SRC_OUI_RESOLVED = register("eth.src.oui_resolved", "Source OUI (resolved)", S, Base.NONE)
ETH_ADDR_OUI_RESOLVED = register("eth.addr.oui_resolved", "Address OUI (resolved)", S, Base.NONE)
ETH_DST_LG = register("eth.dst.lg", "LG bit", B, mask=0x020000)
ETH_DST_IG = register("eth.dst.ig", "IG bit", B, mask=0x010000)
ETH_SRC_LG = register("eth.src.lg", "LG bit", B, mask=0x020000)
ETH_SRC_IG = register("eth.src.ig", "IG bit", B, mask=0x010000)
ETH_SRC_NOT_GROUP = register(
    "eth.src_not_group", "Source MAC must not be a group address: IEEE 802.3-2002, Section 3.2.3(b)", N, Base.NONE
)
ETH_PADDING = register("eth.padding", "Padding", BY, Base.NONE)
ETH_TRAILER = register("eth.trailer", "Trailer", BY, Base.NONE)
ETH_FCS = register("eth.fcs", "Frame check sequence", U, HEX, size=4)
ETH_FCS_STATUS = register("eth.fcs.status", "FCS Status", U, DEC, values=CHECKSUM_STATUS)
ETH_PADDING_BAD = register(
    "eth.padding_bad", "Padding identification may be inaccurate and impact trailer dissector", N, Base.NONE
)

# ARP (sniffer.net.arp)
ARP = register("arp", "Address Resolution Protocol", P, Base.NONE)
ARP_HW_TYPE = register("arp.hw.type", "Hardware type", U, DEC, size=2, values=ARPHRD_NAMES)
ARP_PROTO_TYPE = register("arp.proto.type", "Protocol type", U, HEX, size=2, values=ETHERTYPE_NAMES)
ARP_HW_SIZE = register("arp.hw.size", "Hardware size", U, DEC)
ARP_PROTO_SIZE = register("arp.proto.size", "Protocol size", U, DEC)
ARP_OPCODE = register("arp.opcode", "Opcode", U, DEC, size=2, values=ARP_OPCODES)
ARP_ISGRATUITOUS = register("arp.isgratuitous", "Is gratuitous", B)
ARP_ISPROBE = register("arp.isprobe", "Is probe", B)
ARP_ISANNOUNCEMENT = register("arp.isannouncement", "Is announcement", B)
ARP_SRC_HW_MAC = register("arp.src.hw_mac", "Sender MAC address", FT.ETHER, Base.NONE)
ARP_SRC_HW = register("arp.src.hw", "Sender hardware address", BY, Base.NONE)
ARP_SRC_IPV4 = register("arp.src.proto_ipv4", "Sender IP address", FT.IPV4, Base.NONE)
ARP_SRC_PROTO = register("arp.src.proto", "Sender protocol address", BY, Base.NONE)
ARP_DST_HW_MAC = register("arp.dst.hw_mac", "Target MAC address", FT.ETHER, Base.NONE)
ARP_DST_HW = register("arp.dst.hw", "Target hardware address", BY, Base.NONE)
ARP_DST_IPV4 = register("arp.dst.proto_ipv4", "Target IP address", FT.IPV4, Base.NONE)
ARP_DST_PROTO = register("arp.dst.proto", "Target protocol address", BY, Base.NONE)
DRARP_STATUS = {1: "restricted", 2: "no address", 3: "serverdown", 4: "moved", 5: "failure"}
ARP_DRARP_ERROR = register("arp.dst.drarp_error_status", "DRARP error status", U, DEC, size=2, values=DRARP_STATUS)
ARP_DUPLICATE = register("arp.duplicate-address-detected", "Duplicate IP address configured", N, Base.NONE)
ARP_DUPLICATE_FRAME = register("arp.duplicate-address-frame", "Frame showing earlier use of IP address", U, DEC, size=4)
ARP_DUPLICATE_SECONDS = register(
    "arp.seconds-since-duplicate-address-frame", "Seconds since earlier frame seen", U, DEC, size=4
)

# 802.1Q / 802.1ad
VLAN = register("vlan", "802.1Q Virtual LAN", P, Base.NONE)
VLAN_PRIORITY = register(
    "vlan.priority",
    "Priority",
    U,
    DEC,
    size=2,
    mask=0xE000,
    values={
        0: "Best Effort (default)",
        1: "Background",
        2: "Excellent Effort",
        3: "Critical Applications",
        4: "Video, < 100ms latency and jitter",
        5: "Voice, < 10ms latency and jitter",
        6: "Internetwork Control",
        7: "Network Control",
    },
)
VLAN_DEI = register("vlan.dei", "DEI", B, mask=0x1000)
VLAN_ID = register("vlan.id", "ID", U, DEC, size=2, mask=0x0FFF)
VLAN_ETYPE = register("vlan.etype", "Type", U, HEX, size=2, values=ETHERTYPE_NAMES)
VLAN_TRAILER = register("vlan.trailer", "Trailer", BY, Base.NONE)
# An 802.1ad (QinQ) service tag is its own layer in Wireshark, with plain numbers (its type is ieee8021ah.etype)
QINQ = register("ieee8021ad", "IEEE 802.1ad", P, Base.NONE)
QINQ_PRIORITY = register("ieee8021ad.priority", "Priority", U, DEC, size=2, mask=0xE000)
QINQ_DEI = register("ieee8021ad.dei", "DEI", U, DEC, size=2, mask=0x1000)
QINQ_ID = register("ieee8021ad.id", "ID", U, DEC, size=2, mask=0x0FFF)
QINQ_ETYPE = register("ieee8021ah.etype", "Type", U, HEX, size=2, values=ETHERTYPE_NAMES)

# Linux cooked capture v1/v2
SLL = register("sll", "Linux cooked capture", P, Base.NONE)
SLL_PKTTYPE = register(
    "sll.pkttype",
    "Packet type",
    U,
    DEC,
    size=2,
    values={0: "Unicast to us", 1: "Broadcast", 2: "Multicast", 3: "Unicast to another host", 4: "Sent by us"},
)
SLL_HATYPE = register("sll.hatype", "Link-layer address type", U, DEC, size=2, values=ARPHRD_NAMES)
SLL_HALEN = register("sll.halen", "Link-layer address length", U, DEC, size=2)
SLL_SRC_ETH = register("sll.src.eth", "Source", FT.ETHER, Base.NONE)
SLL_SRC_OTHER = register("sll.src.other", "Source", BY, Base.NONE)
SLL_UNUSED = register("sll.unused", "Unused", BY, Base.NONE)
SLL_TRAILER = register("sll.trailer", "Trailer", BY, Base.NONE)
SLL_ETYPE = register("sll.etype", "Protocol", U, HEX, size=2, values=ETHERTYPE_NAMES)
SLL_IFINDEX = register("sll.ifindex", "Interface index", U, DEC, size=4)

# BSD loopback
NULL = register("null", "Null/Loopback", P, Base.NONE)
NULL_FAMILY = register(
    "null.family",
    "Family",
    U,
    DEC,
    size=4,
    values={2: "IP", 10: "IPv6", 24: "IPv6", 28: "IPv6", 30: "IPv6"},
)

# Raw IP (no link header)
RAW = register("raw", "Raw packet data", P, Base.NONE)

# IPv4
IP = register("ip", "Internet Protocol Version 4", P, Base.NONE)
IP_VERSION = register("ip.version", "Version", U, DEC, mask=0xF0)
IP_HDR_LEN = register("ip.hdr_len", "Header Length", U, DEC, mask=0x0F)
IP_DSFIELD = register("ip.dsfield", "Differentiated Services Field", U, HEX)
IP_DSCP = register("ip.dsfield.dscp", "Differentiated Services Codepoint", U, DEC, mask=0xFC)
IP_ECN = register("ip.dsfield.ecn", "Explicit Congestion Notification", U, DEC, mask=0x03)
IP_LEN = register("ip.len", "Total Length", U, DEC, size=2)
IP_ID = register("ip.id", "Identification", U, HEX, size=2)  # BASE_HEX_DEC: -T fields prints hex
IP_FLAGS = register("ip.flags", "Flags", U, HEX, mask=0xE0)
IP_FLAGS_RB = register("ip.flags.rb", "Reserved bit", B, mask=0x80)
IP_FLAGS_DF = register("ip.flags.df", "Don't fragment", B, mask=0x40)
IP_FLAGS_MF = register("ip.flags.mf", "More fragments", B, mask=0x20)
IP_FRAG_OFFSET = register("ip.frag_offset", "Fragment Offset", U, DEC, size=2, mask=0x1FFF)
IP_TTL = register("ip.ttl", "Time to Live", U, DEC)
IP_PROTO = register("ip.proto", "Protocol", U, DEC, values=IP_PROTO_NAMES)
IP_CHECKSUM = register("ip.checksum", "Header Checksum", U, HEX, size=2)
IP_CHECKSUM_STATUS = register("ip.checksum.status", "Header checksum status", U, DEC, values=CHECKSUM_STATUS)
IP_SRC = register("ip.src", "Source Address", FT.IPV4, Base.NONE)
IP_ADDR = register("ip.addr", "Source or Destination Address", FT.IPV4, Base.NONE)
IP_SRC_HOST = register("ip.src_host", "Source Host", S, Base.NONE)
IP_HOST = register("ip.host", "Source or Destination Host", S, Base.NONE)
IP_DST = register("ip.dst", "Destination Address", FT.IPV4, Base.NONE)
IP_DST_HOST = register("ip.dst_host", "Destination Host", S, Base.NONE)

# IPv6
IPV6 = register("ipv6", "Internet Protocol Version 6", P, Base.NONE)
IPV6_VERSION = register("ipv6.version", "Version", U, DEC, mask=0xF0)
IPV6_TCLASS = register("ipv6.tclass", "Traffic Class", U, HEX, size=4, mask=0x0FF00000)
IPV6_DSCP = register("ipv6.tclass.dscp", "Differentiated Services Codepoint", U, DEC, size=4, mask=0x0FC00000)
IPV6_ECN = register("ipv6.tclass.ecn", "Explicit Congestion Notification", U, DEC, size=4, mask=0x00300000)
IPV6_FLOW = register("ipv6.flow", "Flow Label", U, HEX, size=3, mask=0x0FFFFF)
IPV6_PLEN = register("ipv6.plen", "Payload Length", U, DEC, size=2)
IPV6_NXT = register("ipv6.nxt", "Next Header", U, DEC, values=IP_PROTO_NAMES)
IPV6_HLIM = register("ipv6.hlim", "Hop Limit", U, DEC)
IPV6_SRC = register("ipv6.src", "Source Address", FT.IPV6, Base.NONE)
IPV6_ADDR = register("ipv6.addr", "Source or Destination Address", FT.IPV6, Base.NONE)
IPV6_SRC_HOST = register("ipv6.src_host", "Source Host", S, Base.NONE)
IPV6_HOST = register("ipv6.host", "Source or Destination Host", S, Base.NONE)
IPV6_DST = register("ipv6.dst", "Destination Address", FT.IPV6, Base.NONE)
IPV6_DST_HOST = register("ipv6.dst_host", "Destination Host", S, Base.NONE)
IPV6_EXT = {
    0: ("IPv6 Hop-by-Hop Option", "ipv6.hopopts"),
    43: ("Routing Header for IPv6", "ipv6.routing"),
    60: ("Destination Options for IPv6", "ipv6.dstopts"),
    44: ("Fragment Header for IPv6", "ipv6.fraghdr"),
}
IPV6_EXT_NXT = {
    k: register(f"{ab}.nxt", "Next header" if k == 44 else "Next Header", U, DEC, values=IP_PROTO_NAMES)
    for k, (_, ab) in IPV6_EXT.items()
}
IPV6_EXT_LEN = {k: register(f"{ab}.len", "Length", U, DEC) for k, (_, ab) in IPV6_EXT.items() if k != 44}
# the other extension headers, each a protocol of its own as tshark 4.0 has them (their options are not decoded)
IPV6_EXT_PROTO = {k: register(ab, title, FT.NONE) for k, (title, ab) in IPV6_EXT.items() if k != 44}
IPV6_EXT_LEN_OCT = {
    k: register(f"{ab}.len_oct", "Length", U, DEC, size=2) for k, (_, ab) in IPV6_EXT.items() if k != 44
}
# IPsec's Authentication Header between IPv6's extension headers (tshark: its own protocol, in the IPv6 layer)
AH = register("ah", "Authentication Header", FT.NONE)
AH_NXT = register("ah.next_header", "Next header", U, DEC, values=IP_PROTO_NAMES)
AH_LEN = register("ah.length", "Length", U, DEC)
AH_RESERVED = register("ah.reserved", "Reserved", BY, Base.NONE)
AH_SPI = register("ah.spi", "AH SPI", U, HEX, size=4)
AH_SEQ = register("ah.sequence", "AH Sequence", U, DEC, size=4)
AH_ICV = register("ah.icv", "AH ICV", BY, Base.NONE)
# the Fragment header, as tshark 4.0 names it
IPV6_FRAGHDR = register("ipv6.fraghdr", "Fragment Header for IPv6", FT.NONE)
IPV6_FRAG_RES_OCTET = register("ipv6.fraghdr.reserved_octet", "Reserved octet", U, HEX, size=1)
IPV6_FRAG_OFFSET = register("ipv6.fraghdr.offset", "Offset", U, DEC, size=2, mask=0xFFF8)
IPV6_FRAG_RES_BITS = register("ipv6.fraghdr.reserved_bits", "Reserved bits", U, DEC, size=2, mask=0x0006)
IPV6_FRAG_MORE = register("ipv6.fraghdr.more", "More Fragments", B, mask=0x0001)
IPV6_FRAG_ID = register("ipv6.fraghdr.ident", "Identification", U, HEX, size=4)

# A TCP segment reassembled from IP fragments (sniffer.net.ipfrag): the item under the IP layer of the frame
# that completed it (items of sniffer.pipeline.reassembly_node, in this order)
IP_REASSEMBLY = (
    register("ip.fragments", "IPv4 Fragments", FT.BYTES),  # (its value: the reassembled bytes, as tshark's)
    register("ip.fragment", "IPv4 Fragment", U, DEC, size=4),
    register("ip.fragment.count", "Fragment count", U, DEC, size=4),
    register("ip.reassembled.length", "Reassembled IPv4 length", U, DEC, size=4),
    register("ip.reassembled.data", "Reassembled IPv4 data", FT.BYTES),
)
# (tshark's second pass puts them on the earlier fragments; registered so that filters naming them are valid)
IP_REASSEMBLED_IN = register("ip.reassembled_in", "Reassembled IPv4 in frame", U, DEC, size=4)
IPV6_REASSEMBLED_IN = register("ipv6.reassembled_in", "Reassembled IPv6 in frame", U, DEC, size=4)
IPV6_REASSEMBLY = (
    register("ipv6.fragments", "IPv6 Fragments", FT.NONE),  # (tshark 4.0: bytes for IPv4, none for IPv6)
    register("ipv6.fragment", "IPv6 Fragment", U, DEC, size=4),
    register("ipv6.fragment.count", "Fragment count", U, DEC, size=4),
    register("ipv6.reassembled.length", "Reassembled IPv6 length", U, DEC, size=4),
    register("ipv6.reassembled.data", "Reassembled IPv6 data", FT.BYTES),
)

# Data: the bytes of an IP fragment that no reassembly gave to a protocol (tshark's data dissector). They may hold
# a CONNECT's password that only the whole datagram shows where: masked as a secret (--show-secrets shows them)
DATA = register("data", "Data", P, Base.NONE)
DATA_DATA = register("data.data", "Data", FT.BYTES, secret=True)
DATA_LEN = register("data.len", "Length", U, DEC)

# TCP
TCP = register("tcp", "Transmission Control Protocol", P, Base.NONE)
TCP_SRCPORT = register("tcp.srcport", "Source Port", U, DEC, size=2)
TCP_DSTPORT = register("tcp.dstport", "Destination Port", U, DEC, size=2)
TCP_PORT = register("tcp.port", "Source or Destination Port", U, DEC, size=2)
TCP_STREAM = register("tcp.stream", "Stream index", U, DEC, size=4)
TCP_LEN = register("tcp.len", "TCP Segment Len", U, DEC, size=4)
TCP_SEQ = register("tcp.seq", "Sequence Number", U, DEC, size=4)
TCP_SEQ_RAW = register("tcp.seq_raw", "Sequence Number (raw)", U, DEC, size=4)
TCP_NXTSEQ = register("tcp.nxtseq", "Next Sequence Number", U, DEC, size=4)
TCP_ACK = register("tcp.ack", "Acknowledgment Number", U, DEC, size=4)
TCP_ACK_RAW = register("tcp.ack_raw", "Acknowledgment number (raw)", U, DEC, size=4)
TCP_HDR_LEN = register("tcp.hdr_len", "Header Length", U, DEC)
TCP_FLAGS = register("tcp.flags", "Flags", U, HEX, size=2, mask=0x0FFF)
TCP_FLAG_BITS = (
    (register("tcp.flags.res", "Reserved", B, mask=0xE00), "Reserved", 0xE00),
    (register("tcp.flags.ae", "Accurate ECN", B, mask=0x100), "Accurate ECN", 0x100),
    (register("tcp.flags.cwr", "Congestion Window Reduced", B, mask=0x80), "Congestion Window Reduced", 0x80),
    (register("tcp.flags.ece", "ECN-Echo", B, mask=0x40), "ECN-Echo", 0x40),
    (register("tcp.flags.urg", "Urgent", B, mask=0x20), "Urgent", 0x20),
    (register("tcp.flags.ack", "Acknowledgment", B, mask=0x10), "Acknowledgment", 0x10),
    (register("tcp.flags.push", "Push", B, mask=0x08), "Push", 0x08),
    (register("tcp.flags.reset", "Reset", B, mask=0x04), "Reset", 0x04),
    (register("tcp.flags.syn", "Syn", B, mask=0x02), "Syn", 0x02),
    (register("tcp.flags.fin", "Fin", B, mask=0x01), "Fin", 0x01),
)
TCP_FLAGS_STR = register("tcp.flags.str", "TCP Flags", S, Base.NONE)
TCP_WINDOW_VALUE = register("tcp.window_size_value", "Window", U, DEC, size=2)
TCP_WINDOW = register("tcp.window_size", "Calculated window size", U, DEC, size=4)
TCP_WINDOW_SCALE = register("tcp.window_size_scalefactor", "Window size scaling factor", INT, DEC, size=4)
TCP_CHECKSUM = register("tcp.checksum", "Checksum", U, HEX, size=2)
TCP_CHECKSUM_STATUS = register("tcp.checksum.status", "Checksum Status", U, DEC, values=CHECKSUM_STATUS)
TCP_URGENT = register("tcp.urgent_pointer", "Urgent Pointer", U, DEC, size=2)
TCP_OPTIONS = register("tcp.options", "TCP Options", BY, Base.NONE)
TCP_OPTION_KIND = register(
    "tcp.option_kind",
    "Kind",
    U,
    DEC,
    values={
        0: "End of Option List",
        1: "No-Operation",
        2: "Maximum Segment Size",
        3: "Window Scale",
        4: "SACK Permitted",
        5: "SACK",
        8: "Time Stamp Option",
        30: "Multipath TCP",
        34: "TCP Fast Open Cookie",
    },
)
TCP_OPTION_LEN = register("tcp.option_len", "Length", U, DEC)
TCP_OPT_MSS_VAL = register("tcp.options.mss_val", "MSS Value", U, DEC, size=2)
TCP_OPT_WS_SHIFT = register("tcp.options.wscale.shift", "Shift count", U, DEC)
TCP_OPT_WS_MULT = register("tcp.options.wscale.multiplier", "Multiplier", U, DEC, size=2)
TCP_OPT_TSVAL = register("tcp.options.timestamp.tsval", "Timestamp value", U, DEC, size=4)
TCP_OPT_TSECR = register("tcp.options.timestamp.tsecr", "Timestamp echo reply", U, DEC, size=4)
TCP_OPT_SACK_LE = register("tcp.options.sack_le", "TCP SACK Left Edge", U, DEC, size=4)
TCP_OPT_SACK_RE = register("tcp.options.sack_re", "TCP SACK Right Edge", U, DEC, size=4)
TCP_OPT_SACK_COUNT = register("tcp.options.sack.count", "TCP SACK Count", U, DEC)
TCP_OPT_DSACK_LE = register("tcp.options.sack.dsack_le", "TCP D-SACK Left Edge", U, DEC, size=4)
TCP_OPT_DSACK_RE = register("tcp.options.sack.dsack_re", "TCP D-SACK Right Edge", U, DEC, size=4)
TCP_OPT_DSACK = register("tcp.options.sack.dsack", "D-SACK Sequence", N, Base.NONE)
# One field per option, its bytes as value: tshark's JSON keys ("tcp.options.mss", "..._tree") and -e names
TCP_OPT_BY_KIND = {
    kind: register(f"tcp.options.{abbrev}", f"TCP Option - {title}", BY, Base.NONE)
    for kind, abbrev, title in (
        (0, "eol", "End of Option List (EOL)"),
        (1, "nop", "No-Operation (NOP)"),
        (2, "mss", "Maximum segment size"),
        (3, "wscale", "Window scale"),
        (4, "sack_perm", "SACK permitted"),
        (5, "sack", "SACK"),
        (8, "timestamp", "Timestamps"),
    )
}
TCP_OPT_UNKNOWN = register("tcp.options.unknown", "TCP Option - Unknown", BY, Base.NONE)
TCP_PAYLOAD = register("tcp.payload", "TCP payload", BY, Base.NONE)
# what tshark's TCP desegmentation adds: each PDU's size, and the bytes of PDUs that span segments
TCP_PDU_SIZE = register("tcp.pdu.size", "PDU Size", U, DEC, size=4)
TCP_SEGMENT_DATA = register("tcp.segment_data", "TCP segment data", BY, Base.NONE)

# UDP (Wireshark's names; no stream index or timestamps: they need conversation state the on-demand tree lacks)
UDP = register("udp", "User Datagram Protocol", P, Base.NONE)
UDP_SRCPORT = register("udp.srcport", "Source Port", U, DEC, size=2)
UDP_DSTPORT = register("udp.dstport", "Destination Port", U, DEC, size=2)
UDP_PORT = register("udp.port", "Source or Destination Port", U, DEC, size=2)
UDP_LENGTH = register("udp.length", "Length", U, DEC, size=2)
UDP_CHECKSUM = register("udp.checksum", "Checksum", U, HEX, size=2)
UDP_CHECKSUM_STATUS = register("udp.checksum.status", "Checksum Status", U, DEC, values=CHECKSUM_STATUS)
UDP_PAYLOAD = register("udp.payload", "Payload", BY, Base.NONE)
TCP_TIME_REL = register("tcp.time_relative", "Time since first frame in this TCP stream", FT.DOUBLE, Base.NONE)
TCP_TIME_DELTA = register("tcp.time_delta", "Time since previous frame in this TCP stream", FT.DOUBLE, Base.NONE)
TCP_ANALYSIS = register("tcp.analysis", "SEQ/ACK analysis", N, Base.NONE)
TCP_ANALYSIS_FLAGS = register("tcp.analysis.flags", "TCP Analysis Flags", N, Base.NONE)
# One FT_NONE field per analysis flag, e.g. tcp.analysis.retransmission.
ANALYSIS_FIELDS = {
    name: register(f"tcp.analysis.{name}", text, N, Base.NONE)
    for name, text in (
        ("retransmission", "This frame is a (suspected) retransmission"),
        ("fast_retransmission", "This frame is a (suspected) fast retransmission"),
        ("spurious_retransmission", "This frame is a (suspected) spurious retransmission"),
        ("out_of_order", "This frame is a (suspected) out-of-order segment"),
        ("lost_segment", "Previous segment(s) not captured (common at capture start)"),
        ("ack_lost_segment", "ACKed segment that wasn't captured (common at capture start)"),
        ("window_update", "TCP window update"),
        ("window_full", "TCP window specified by the receiver is now completely full"),
        ("keep_alive", "TCP keep-alive segment"),
        ("keep_alive_ack", "ACK to a TCP keep-alive segment"),
        ("zero_window", "TCP Zero Window segment"),
        ("zero_window_probe", "TCP Zero Window Probe"),
        ("zero_window_probe_ack", "ACK to a TCP Zero Window Probe"),
        ("duplicate_ack", "Duplicate ACK"),
        ("reused_ports", "A new tcp session is started with the same ports as an earlier session in this trace"),
    )
}
# What tshark's [SEQ/ACK analysis] shows beside the flags (times: relative times in seconds, as tcp.time_delta)
TCP_COMPLETENESS = register("tcp.completeness", "Conversation completeness", U, DEC)
TCP_ACKS_FRAME = register("tcp.analysis.acks_frame", "This is an ACK to the segment in frame", U, DEC)
TCP_ACK_RTT = register("tcp.analysis.ack_rtt", "The RTT to ACK the segment was", FT.DOUBLE, Base.NONE)
TCP_INITIAL_RTT = register("tcp.analysis.initial_rtt", "iRTT", FT.DOUBLE, Base.NONE)
TCP_BYTES_IN_FLIGHT = register("tcp.analysis.bytes_in_flight", "Bytes in flight", U, DEC, size=4)
TCP_PUSH_BYTES_SENT = register("tcp.analysis.push_bytes_sent", "Bytes sent since last PSH flag", U, DEC, size=4)
TCP_DUPACK_NUM = register("tcp.analysis.duplicate_ack_num", "Duplicate ACK #", U, DEC, size=4)
TCP_DUPACK_FRAME = register("tcp.analysis.duplicate_ack_frame", "Duplicate to the ACK in frame", U, DEC)
TCP_RTO = register("tcp.analysis.rto", "The RTO for this segment was", FT.DOUBLE, Base.NONE)
TCP_RTO_FRAME = register("tcp.analysis.rto_frame", "RTO based on delta from frame", U, DEC)
# Expert notes on headers that contradict themselves or their packet (tshark's names; Wireshark registers each
# note as a field, so `-Y ip.bogus_header_length` finds the frames)
IP_BOGUS_VERSION = register("ip.bogus_ip_version", "Bogus IP version", N, Base.NONE)
IP_BOGUS_HDR_LEN = register("ip.bogus_header_length", "Bogus IP header length", N, Base.NONE)
IP_BOGUS_LEN = register("ip.bogus_ip_length", "Bogus IP length", N, Base.NONE)
IPV6_PLEN_EXCEEDS = register(
    "ipv6.plen_exceeds_framing", "IPv6 payload length does not match expected framing length", N, Base.NONE
)
TCP_BOGUS_HDR_LEN = register("tcp.bogus_header_length", "Bogus TCP Header length", N, Base.NONE)
TCP_SHORT_SEGMENT = register("tcp.short_segment", "Short segment", N, Base.NONE)
TCP_ACK_NONZERO = register(
    "tcp.ack.nonzero", "The acknowledgment number field is nonzero while the ACK flag is not set", N, Base.NONE
)
TCP_URGENT_NONZERO = register(
    "tcp.urgent_pointer.non_zero", "The urgent pointer field is nonzero while the URG flag is not set", N, Base.NONE
)
TCP_OPTION_LEN_INVALID = register("tcp.option.len.invalid", "Invalid length for option", N, Base.NONE)
TCP_SUBOPTION_MALFORMED = register("tcp.suboption_malformed", "suboption would go past end of option", N, Base.NONE)
TCP_MSS_PRESENT = register("tcp.options.mss.present", "The non-SYN packet does contain a MSS option", N, Base.NONE)
TCP_NOP = register("tcp.nop", "4 NOP in a row - a router may have removed some options", N, Base.NONE)
UDP_LENGTH_BAD = register("udp.length.bad", "Bad length value", N, Base.NONE)
