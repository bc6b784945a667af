"""Display filter: parsing, evaluation and error positions, table-driven.

Runs over fields registered here (protocol "xt") and hand-built frames, so it
pins the language itself independently of the dissectors. Agreement with
tshark on real captures is in test_filter_tshark.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

from sniffer.fields import FT, REGISTRY, Base, Node, item, register
from sniffer.filter import FilterError, compile_filter, field_completions
from sniffer.filter.parser import BoolOp, Compare, Exists, InSet, Not, parse
from sniffer.filter.topic import check_filter, compile_topic_filter


def _reg(abbrev: str, name: str, ft: FT, base: Base = Base.DEC, **kw):
    return REGISTRY[abbrev] if abbrev in REGISTRY else register(abbrev, name, ft, base, **kw)


XT = _reg("xt", "Filter test protocol", FT.PROTOCOL, Base.NONE)
NUM = _reg("xt.num", "Number", FT.UINT, size=2, values={1: "One", 2: "Two words"})
STR = _reg("xt.s", "Text", FT.STRING, Base.NONE)
ADDR = _reg("xt.addr", "Address", FT.IPV4, Base.NONE)
ADDR6 = _reg("xt.addr6", "Address v6", FT.IPV6, Base.NONE)
FLAG = _reg("xt.flag", "Flag", FT.BOOLEAN, mask=0x02)
RAW = _reg("xt.raw", "Raw", FT.BYTES, Base.NONE)
DBL = _reg("xt.d", "Double", FT.DOUBLE, Base.NONE)
LABEL = _reg("xt.label", "Label", FT.NONE, Base.NONE)
NUM2 = _reg("xt.other", "Other number", FT.UINT, size=2)


class FakeFrame:
    """The parts of pipeline.Frame the filter reads, with a fixed tree."""

    def __init__(self, nodes: list[Node], number: int = 1, data: bytes = b"\x01\x02hello") -> None:
        self.nodes = nodes
        self.number = number
        self.orig_len = len(data)
        self.rel_ts = 0.5
        self.ts = 1700000000.5
        self.delta = 0.1
        self.data = data
        self.pdus: list = []
        self.stream = -1
        self.tree_calls = 0

    def tree(self, protocols=None) -> list[Node]:
        self.tree_calls += 1
        return self.nodes

    def sources(self) -> list[tuple[str, bytes]]:
        return [("Frame", self.data)]


def frame_a() -> FakeFrame:
    children = [
        item(NUM, 1, 0, 2),
        item(NUM, 5, 0, 2),
        item(STR, "sensors/k1/temp", 2, 5),
        item(ADDR, bytes([10, 0, 0, 5]), 0, 4),
        item(ADDR6, bytes(15) + b"\x01", 0, 1),
        item(FLAG, True, 0, 1),
        item(RAW, b"\xaa\xbb\xcc", 0, 3),
        item(DBL, 2.5, 0, 1),
        item(LABEL, None, 0, 1),
        item(NUM2, 5, 0, 1),
    ]
    return FakeFrame([Node(XT, None, 0, 7, "Filter test protocol", children)])


def frame_b() -> FakeFrame:
    """Has the protocol but none of the fields."""
    return FakeFrame([Node(XT, None, 0, 7, "Filter test protocol", [])], number=2)


EVAL = [
    # (expression, matches frame_a, matches frame_b)
    ("xt", True, True),
    ("xt.num", True, False),
    ("!xt.num", False, True),
    ("not xt.num", False, True),
    ("xt.label", True, False),
    ("xt.num == 1", True, False),
    ("xt.num eq 5", True, False),
    ("xt.num == 0x5", True, False),
    ("xt.num == 05", True, False),
    ("xt.num == 0b101", True, False),
    ("xt.num == 2", False, False),
    ("xt.num != 1", False, False),  # all_ne: one occurrence is 1
    ("xt.num ne 7", True, False),
    ("xt.num !== 1", True, False),  # any_ne: the 5 differs
    ("xt.num any_ne 1", True, False),
    ("xt.num === 1", False, False),
    ("xt.num all_eq 1", False, False),
    ("all xt.num > 0", True, False),
    ("all xt.num > 1", False, False),
    ("any xt.num != 1", True, False),
    ("xt.num > 4", True, False),
    ("xt.num >= 5", True, False),
    ("xt.num < 1", False, False),
    ("xt.num le 1", True, False),
    ('xt.num == "one"', True, False),
    ('xt.num == "Two words"', False, False),
    ("xt.num == One", True, False),
    ("xt.num in {2..6}", True, False),
    ("xt.num in {3, 4}", False, False),
    ("xt.num in {3 5}", True, False),
    ('xt.num in {"One", 9}', True, False),
    ("all xt.num in {1, 5}", True, False),
    ("xt.num & 0x4", True, False),
    ("xt.num & 0x4 == 4", True, False),
    ("xt.num bitwise_and 2", False, False),
    ("xt.num == xt.other", True, False),
    ("xt.num > xt.other", False, False),
    ('xt.s == "sensors/k1/temp"', True, False),
    ('xt.s contains "k1"', True, False),
    ('xt.s contains "K1"', False, False),
    ('xt.s matches "TEMP$"', True, False),  # case-insensitive, as tshark 4.0
    ('xt.s ~ "^sensors/"', True, False),
    ('xt.s matches "(?-i)TEMP$"', False, False),
    ('xt.s > "sensors"', True, False),
    ('xt.s == r"sensors/k1/temp"', True, False),
    ('xt.s == "\\x73ensors/k1/temp"', True, False),
    ('xt.s == "\\163ensors/k1/temp"', True, False),
    ('xt.s[0:3] == "sen"', True, False),
    ("xt.s[0:3] == 73:65:6e", True, False),
    ('xt.s[-4:] == "temp"', True, False),
    ('xt.s[1-2] == "en"', True, False),
    ("xt.s[0] == 73", True, False),
    ('xt.s[100:2] == "x"', False, False),
    ("len(xt.s) == 15", True, False),
    ("count(xt.num) == 2", True, False),
    ("count(xt.num) == 0", False, False),
    ('upper(xt.s) contains "K1"', True, False),
    ('lower(xt.s) == "sensors/k1/temp"', True, False),
    ('string(xt.num) matches "^5$"', True, False),
    ('string(xt.addr) == "10.0.0.5"', True, False),
    ("xt.addr == 10.0.0.5", True, False),
    ("xt.addr == 10.0.0.0/8", True, False),
    ("xt.addr == 11.0.0.0/8", False, False),
    ("xt.addr != 10.0.0.0/24", False, False),
    ("xt.addr > 10.0.0.4", True, False),
    ("xt.addr in {10.0.0.1 .. 10.0.0.9}", True, False),
    ("xt.addr6 == ::1", True, False),
    ("xt.addr6 == ::/127", True, False),
    ("xt.addr6 == fe80::1", False, False),
    ("xt.flag", True, False),
    ("xt.flag == 1", True, False),
    ("xt.flag == True", True, False),
    ("xt.flag == TRUE", True, False),
    ("xt.flag == 2", True, False),  # any non-zero number is true
    ("xt.flag == False", False, False),
    ("xt.raw == aa:bb:cc", True, False),
    ("xt.raw == aa.bb.cc", True, False),
    ("xt.raw == aa-bb-cc", True, False),
    ("xt.raw contains bb", True, False),
    ("xt.raw contains 0xcc", True, False),
    ("xt.raw[1:] == bb:cc", True, False),
    ("xt.d > 2.25", True, False),
    ("xt.d in {2 .. 3}", True, False),
    ('xt contains "hello"', True, True),
    ("xt[0:2] == 01:02", True, True),
    ('xt matches "HELLO"', True, True),
    ('topic_match(xt.s, "sensors/+/temp")', True, False),
    ('topic_match(xt.s, "sensors/#")', True, False),
    ('topic_match(xt.s, "#")', True, False),
    ('topic_match(xt.s, "sensors/+")', False, False),
    ('topic_match(xt.s, "+/+/+")', True, False),
    ('!topic_match(xt.s, "a/#")', True, True),
    # precedence: not > and > or, left to right
    ("xt.num == 9 and xt.num == 9 or xt", True, True),
    ("xt or xt.num == 9 and xt.num == 9", True, True),
    ("xt.num == 9 or xt.num == 1 and xt.s", True, False),
    ("(xt.num == 9 or xt.num == 1) and xt.s", True, False),
    ("not xt.num == 9 and xt.s", True, False),
    ("!(xt.num == 1 || xt.s) && xt", False, True),
    ("xt.num == 1 && xt.num == 5 && xt.s && xt.flag", True, False),
    ("not not xt.num", True, False),
]


@pytest.mark.parametrize(("expr", "want_a", "want_b"), EVAL)
def test_evaluation(expr: str, want_a: bool, want_b: bool) -> None:
    flt = compile_filter(expr)
    assert flt.matches(frame_a()) is want_a
    assert flt.matches(frame_b()) is want_b


def test_frame_number_from_summary_row() -> None:
    compile_filter("xt")  # loads every dissector's registrations
    assert "frame.number" in REGISTRY, "frame.number is not registered (sniffer.net tree missing?)"
    flt = compile_filter("frame.number == 2")
    fa, fb = frame_a(), frame_b()
    assert not flt.matches(fa) and flt.matches(fb)
    assert fa.tree_calls == 0 and fb.tree_calls == 0


def test_tree_built_once_per_evaluation_and_only_when_needed() -> None:
    fa = frame_a()
    flt = compile_filter('xt.num == 1 && xt.s contains "k" && xt.addr == 10.0.0.5')
    assert flt.matches(fa)
    assert fa.tree_calls == 1
    # short-circuit: the first test fails on the summary row, no tree
    fb = frame_b()
    assert not compile_filter("frame.number == 7 && xt.num == 1").matches(fb)
    assert fb.tree_calls == 0
    assert compile_filter("xt.num and xt.s").fields == {"xt.num", "xt.s"}
    assert "xt" in compile_filter("xt.num and xt.s").protocols


PARSE = [
    ("a or b and c", BoolOp, "or"),
    ("a and b or c", BoolOp, "or"),
    ("not a and b", BoolOp, "and"),
    ("!a", Not, None),
    ("(a or b) and c", BoolOp, "and"),
    ("a", Exists, None),
    ("a == 1", Compare, "eq"),
    ("a in {1, 2}", InSet, None),
    ('a ~ "x"', Compare, "matches"),
]


@pytest.mark.parametrize(("expr", "cls", "op"), PARSE)
def test_parse_shapes(expr: str, cls: type, op: str | None) -> None:
    tree = parse(expr)
    assert isinstance(tree, cls)
    if isinstance(tree, BoolOp):
        assert tree.op == op
    if isinstance(tree, Compare):
        assert tree.test == op


def test_precedence_groups_and_under_or() -> None:
    tree = parse("a and b or not c or d and not e or f")
    assert isinstance(tree, BoolOp) and tree.op == "or"
    kinds = [type(c).__name__ + (c.op if isinstance(c, BoolOp) else "") for c in tree.children]
    # (A and B) or (not C) or (D and (not E)) or F, as wireshark-filter(4) reads it
    assert kinds == ["BoolOpand", "Not", "BoolOpand", "Exists"]


ERRORS = [
    # (expression, text that must be underlined, words the message must contain)
    ("xt.nun == 1", "xt.nun", ["unknown field", "xt.num"]),
    ("xt.num == 1 && xt.sss", "xt.sss", ["unknown field", "xt.s"]),
    ("xt.s > 5", "5", ["string", "quote"]),
    ("xt.s contains k1", "k1", ["quote"]),
    ('xt.addr == "abc"', '"abc"', ["IPv4"]),
    ("xt.addr == abc", "abc", ["IPv4"]),
    ("xt.addr == ::1", "::1", ["IPv6"]),
    ('xt.num == "three"', '"three"', ["value name"]),
    ("xt.num == abc", "abc", ["integer"]),
    ("xt.num contains 3", "xt.num", ["contains"]),
    ('xt.num matches "1"', "xt.num", ["matches"]),
    ("xt.s matches foo", "foo", ["double-quoted"]),
    ('xt.s matches "([a-"', "[", ["regular expression"]),  # Python's re points at the "["
    ("xt.label == 1", "xt.label", ["no value"]),
    ("xt.num == xt.s", "xt.num == xt.s", ["cannot be compared"]),
    ("(xt.num == 1", "(", ["unbalanced", "never closed"]),
    ("((xt.num == 1)", "(", ["unbalanced"]),
    ("xt.num == 1)", ")", ["unbalanced"]),
    ("xt.num ==", "", ["unexpected end"]),
    ("xt.num == 1 and", "", ["unexpected end"]),
    ("xt.num == 1 xt", "xt", ["unexpected"]),
    ("xt.num === ", "", ["unexpected end"]),
    ("and xt", "and", ["keyword"]),
    ('xt.s == "abc', '"abc', ["not closed"]),
    ('xt.s == "a\\qb"', "\\q", ["escape"]),
    ("1883", "1883", ["value"]),
    ('"text"', '"text"', ["value"]),
    ("foo(xt.s)", "foo", ["function", "does not exist"]),
    ("lenn(xt.s) > 1", "lenn", ["did you mean len"]),
    ("len(xt.s)", "len(xt.s)", ["compare"]),
    ("len(xt.num) > 1", "xt.num", ["len()"]),
    ("xt.num[0:2] == 1", "xt.num[0:2]", ["sliced"]),
    ('xt.s[a:b] == "x"', "a:b", ["slice"]),
    ("xt.num in {}", "{}", ["empty set"]),
    ("xt.num in {1, 2", "{", ["not closed"]),
    ("xt.num in 1", "1", ["set"]),
    ('topic_match(xt.s, "a/#/b")', '"a/#/b"', ["#"]),
    ('topic_match(xt.s, "a/b+")', '"a/b+"', ["+"]),
    ('topic_match(xt.num, "a")', "xt.num", ["string"]),
    ("topic_match(xt.s, a)", "topic_match(xt.s, a)", ["quoted"]),
    ('topic_match(xt.s, "a") == 1', 'topic_match(xt.s, "a")', ["test by itself"]),
    ("xt.num == 1 + 2", "+", ["arithmetic"]),
    ("ip.addr#2 == 1.2.3.4", "#", ["layer"]),
    ("xt.num == ${xt.num}", "$", ["field references"]),
    ("xt.s == 'ab'", "'ab'", ["character"]),
    ("", "", ["empty"]),
    ("xt.num AND xt", "AND", ["unexpected"]),
    ("all xt.num", "all", ["comparison"]),
]


@pytest.mark.parametrize(("expr", "underline", "words"), ERRORS)
def test_errors_are_filter_errors_with_span(expr: str, underline: str, words: list[str]) -> None:
    with pytest.raises(FilterError) as ei:
        compile_filter(expr)
    err = ei.value
    msg = err.message.lower()
    for w in words:
        assert w.lower() in msg, f"{expr!r}: {err.message!r} lacks {w!r}"
    assert 0 <= err.start < err.end
    if underline:
        assert expr[err.start : err.end] == underline, f"{expr!r}: underlined {expr[err.start : err.end]!r}"
    else:
        assert err.start == len(expr)  # the end of the text
    assert str(err).startswith(f"at column {err.start + 1}: ")


def test_error_underline_text() -> None:
    with pytest.raises(FilterError) as ei:
        compile_filter("xt.nun == 1")
    assert ei.value.underline("xt.nun == 1") == "xt.nun == 1\n^~~~~~"


@pytest.mark.parametrize(
    "garbage",
    [
        "((((",
        "))))",
        "{",
        "}",
        "[",
        "]",
        "==",
        "!",
        "!!",
        "a..b",
        "xt[",
        "xt.s[0:",
        '"',
        'r"',
        "'",
        "xt.num in {1..}",
        'xt.s matches "\\"',
        "&&",
        "xt ||",
        "not",
        "xt.num == 1 or or xt",
        "xt.num ~ ~",
        "\x00",
        'xt.s == "\\u12"',
    ],
)
def test_garbage_never_raises_anything_but_filter_error(garbage: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(garbage)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(FilterError):
        compile_filter("(" * 5000 + "xt" + ")" * 5000)


TOPICS = [
    ("a/b/c", "a/b/c", True),
    ("a/b/c", "a/b", False),
    ("a/+/c", "a/x/c", True),
    ("a/+/c", "a/x/y/c", False),
    ("a/+", "a/", True),  # an empty level is a level
    ("a/#", "a", True),  # the parent level too
    ("a/#", "a/b/c", True),
    ("a/#", "ab", False),
    ("#", "x/y", True),
    ("#", "$SYS/x", False),  # wildcards do not match $ topics at the first level
    ("+/x", "$SYS/x", False),
    ("$SYS/#", "$SYS/broker/uptime", True),
    ("+/+", "/x", True),
    ("/+", "/x", True),
    ("+", "a/b", False),
]


@pytest.mark.parametrize(("flt", "topic", "want"), TOPICS)
def test_topic_filter_rules(flt: str, topic: str, want: bool) -> None:
    assert check_filter(flt) is None
    assert compile_topic_filter(flt)(topic) is want


@pytest.mark.parametrize("bad", ["", "a/#/b", "a#", "a/b+", "+a/b", "##"])
def test_invalid_topic_filters(bad: str) -> None:
    assert check_filter(bad) is not None


def test_field_completions() -> None:
    comps = field_completions("xt.")
    names = [a for a, _ in comps]
    assert names == sorted(names) and "xt.num" in names and "xt" not in names
    desc = dict(comps)["xt.num"]
    assert "Number" in desc and "uint" in desc
    assert all(a.startswith("xt.") for a in names)
    assert len(field_completions("", limit=3)) == 3


def test_no_textual_or_rich_import() -> None:
    code = (
        "import sys, sniffer.filter as f; f.check_filter('frame.len > 1'); "
        "bad=[m for m in sys.modules if m.split('.')[0] in ('textual','rich')]; print(bad); sys.exit(bool(bad))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
