"""Syntax tree -> one predicate over frames, with every check done at compile time.

Each test becomes a closure `pred(frame) -> bool` (comparisons of summary-row
fields and of mqtt.msgtype are generated as Python source for speed); `and`/`or`
short-circuit left to right; the TreePlan caches the last frame's tree. Semantics follow
tshark 4.0: a field occurring several times matches `==` if ANY occurrence
matches, `!=` is "all occurrences differ" (the negation of ==), `===` / all_eq
and `!==` / any_ne as documented in wireshark-filter(4), `any`/`all` prefixes
override; a comparison on a missing field is false (implicit exists).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from sniffer.fields import REGISTRY, FieldDef
from sniffer.filter import access
from sniffer.filter import parser as P
from sniffer.filter.errors import FilterError
from sniffer.filter.literals import KIND_NAMES, KIND_OF, ORDERED, convert, parse_int, to_text
from sniffer.filter.topic import check_filter, compile_topic_filter

Pred = Callable[[Any], bool]
FUNCTIONS = ("len", "count", "upper", "lower", "string", "topic_match")
NUMERIC = frozenset({"int", "float"})


class Operand:
    """A compiled field-like operand: its kind, occurrences getter, and optional single-value fast path."""

    __slots__ = ("kind", "get", "single", "fd", "label", "start", "end")

    def __init__(self, kind: str, get, single, fd: FieldDef | None, label: str, start: int, end: int) -> None:
        self.kind = kind
        self.get = get
        self.single = single  # f -> value, for fields every frame has exactly once
        self.fd = fd
        self.label = label
        self.start = start
        self.end = end


def _looks_like_field(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*", text))


def unknown_field(name: str, start: int, end: int) -> FilterError:
    close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return FilterError(f'unknown field "{name}"{hint}', start, end)


def _slice_ranges(specs: list[tuple[str, int, int]]) -> list[tuple[int, int | None]]:
    """Wireshark slice specs -> (start, end-exclusive | None = to the end) with negatives kept."""
    out: list[tuple[int, int | None]] = []
    for text, s, e in specs:
        m = re.fullmatch(r"(-?\d+)?:(-?\d+)?|(-?\d+)-(-?\d+)|(-?\d+)", text)
        if not m or text == ":":
            raise FilterError(f'bad slice "{text}": write [i:j] (length j), [i-j], [i], [:j] or [i:]', s, e)
        if m.group(5) is not None:
            i = int(m.group(5))
            out.append((i, i + 1 if i != -1 else None))
        elif m.group(3) is not None:
            i, j = int(m.group(3)), int(m.group(4))
            out.append((i, j + 1 if j != -1 else None))
        else:
            i = int(m.group(1) or 0)
            if m.group(2) is None:
                out.append((i, None))
            else:
                n = int(m.group(2))
                if n < 0:
                    raise FilterError("slice length must not be negative", s, e)
                out.append((i, i + n if not (i < 0 and i + n == 0) else None))
    return out


def _apply_slices(data: bytes, ranges: list[tuple[int, int | None]]) -> bytes | None:
    """Concatenated slices, or None if a slice falls outside the value (the slice does not exist)."""
    out = b""
    n = len(data)
    for i, j in ranges:
        a = i + n if i < 0 else i
        b = n if j is None else (j + n if j < 0 else j)
        if a < 0 or b > n or a > b or (j is None and a >= n):
            return None
        out += data[a:b]
    return out


class Compiler:
    """`rows` (a sniffer.filter.rows.RowAccess) compiles predicates over a store's row indices."""

    def __init__(self, text: str, rows: Any = None) -> None:
        self.text = text
        self.plan = access.TreePlan()
        self.fields: set[str] = set()
        self.rows = rows
        self._getter = access.getter if rows is None else rows.getter
        self._single = access.single_getter if rows is None else rows.single_getter

    # ---- operands ---------------------------------------------------------------
    def field(self, w: P.Word, wants_value: bool = True) -> Operand:
        name = w.text
        fd = REGISTRY.get(name)
        if fd is None:
            raise unknown_field(name, w.start, w.start + len(name))
        self.fields.add(name)
        kind = KIND_OF[fd.ftype]
        if w.slices is None:
            get = self._getter(name, self.plan, wants_value)
            single = self._single(name)
            return Operand(kind, get, single, fd, name, w.start, w.end)
        if kind not in ("str", "bytes"):
            raise FilterError(
                f"{name} is {KIND_NAMES[kind]}: only strings, bytes and protocols can be sliced", w.start, w.end
            )
        ranges = _slice_ranges(w.slices)
        base = self._getter(name, self.plan, True)
        is_str = kind == "str"

        def get_slice(f: Any) -> list:
            out = []
            for v in base(f):
                b = _apply_slices(v.encode("utf-8", "surrogateescape") if is_str else v, ranges)
                if b is not None:
                    out.append(b)
            return out

        return Operand("bytes", get_slice, None, fd, self.text[w.start : w.end], w.start, w.end)

    def operand(self, node: Any, wants_value: bool = True) -> Operand:
        if isinstance(node, P.Word):
            return self.field(node, wants_value)
        if isinstance(node, P.Call):
            return self.call(node)
        if isinstance(node, P.BitAnd):
            return self.bitand(node)
        raise FilterError("a field or function was expected here, not a value", node.start, node.end)

    def bitand(self, node: P.BitAnd) -> Operand:
        base = self.operand(node.operand)
        if base.kind != "int":
            raise FilterError(
                f"{base.label} is {KIND_NAMES[base.kind]}: '&' needs an integer field", base.start, base.end
            )
        m = node.mask
        if isinstance(m, P.Word) and m.text in REGISTRY:
            raise FilterError("the mask of '&' must be a number", m.start, m.end)
        mask = convert(m, "int", None, f"the mask of {base.label}")
        g = base.get
        label = self.text[node.start : node.end]
        return Operand("int", lambda f: [v & mask for v in g(f)], None, None, label, node.start, node.end)

    def call(self, node: P.Call) -> Operand:
        name = node.name
        if name == "topic_match":
            raise FilterError("topic_match(...) is a test by itself: use it without a comparison", node.start, node.end)
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, FUNCTIONS, n=2, cutoff=0.5)
            hint = f" (did you mean {' or '.join(close)}?)" if close else f" (functions: {', '.join(FUNCTIONS)})"
            if name in ("max", "min", "abs"):
                hint = " (not supported by mqttsniff)"
            raise FilterError(f'function "{name}" does not exist{hint}', node.start, node.name_end)
        if len(node.args) != 1:
            raise FilterError(f"{name}() takes exactly one field", node.start, node.end)
        arg = self.operand(node.args[0])
        g = arg.get
        label = self.text[node.start : node.end]
        if name == "count":
            return Operand("int", lambda f: [n] if (n := len(g(f))) else [], None, None, label, node.start, node.end)
        if name == "len":
            if arg.kind == "str":
                return Operand(
                    "int",
                    lambda f: [len(v.encode("utf-8", "surrogateescape")) for v in g(f)],
                    None,
                    None,
                    label,
                    node.start,
                    node.end,
                )
            if arg.kind == "bytes":
                return Operand("int", lambda f: [len(v) for v in g(f)], None, None, label, node.start, node.end)
            raise FilterError(
                f"len() needs a string or bytes field; {arg.label} is {KIND_NAMES[arg.kind]}", arg.start, arg.end
            )
        if name in ("upper", "lower"):
            if arg.kind != "str":
                raise FilterError(
                    f"{name}() needs a string field; {arg.label} is {KIND_NAMES[arg.kind]}", arg.start, arg.end
                )
            fn = str.upper if name == "upper" else str.lower
            return Operand("str", lambda f: [fn(v) for v in g(f)], None, None, label, node.start, node.end)
        # string()
        if arg.kind in ("str", "bytes", "none"):
            raise FilterError(
                f"string() converts non-string fields; {arg.label} is {KIND_NAMES[arg.kind]}", arg.start, arg.end
            )
        fmt = to_text(arg.kind, arg.fd)
        return Operand("str", lambda f: [fmt(v) for v in g(f)], None, None, label, node.start, node.end)

    # ---- tests --------------------------------------------------------------------
    def test(self, node: Any) -> Pred:
        if isinstance(node, P.BoolOp):
            preds = [self.test(c) for c in node.children]
            return _chain(node.op, preds)
        if isinstance(node, P.Not):
            p = self.test(node.child)
            return lambda f: not p(f)
        if isinstance(node, P.Exists):
            return self.exists(node.operand)
        if isinstance(node, P.Compare):
            return self.compare(node)
        if isinstance(node, P.InSet):
            return self.in_set(node)
        raise FilterError("unexpected expression", node.start, node.end)

    def exists(self, node: Any) -> Pred:
        if isinstance(node, P.Word):
            if node.text not in REGISTRY and not _looks_like_field(node.text):
                raise FilterError(
                    f'"{node.text}" is a value; a test needs a field (e.g. tcp.port == {node.text})',
                    node.start,
                    node.end,
                )
            op = self.field(node, wants_value=node.slices is not None)
            g = op.get
            if op.single is not None:
                return lambda f: True
            return lambda f: bool(g(f))
        if isinstance(node, P.Call):
            if node.name == "topic_match":
                return self.topic_match(node)
            if node.name in FUNCTIONS:
                raise FilterError(
                    f"{node.name}() gives a value: compare it (e.g. {node.name}(...) > 0)", node.start, node.end
                )
            self.call(node)  # raises the unknown-function error
        if isinstance(node, P.BitAnd):
            op = self.bitand(node)
            g = op.get
            return lambda f: any(g(f))
        if isinstance(node, (P.Str, P.Char)):
            raise FilterError("a value alone is not a test: compare a field with it", node.start, node.end)
        raise FilterError("a field was expected here", node.start, node.end)

    def topic_match(self, node: P.Call) -> Pred:
        if len(node.args) != 2 or not isinstance(node.args[1], P.Str):
            raise FilterError(
                'topic_match needs a field and a quoted topic filter: topic_match(mqtt.topic, "a/+/c")',
                node.start,
                node.end,
            )
        arg = self.operand(node.args[0])
        if arg.kind != "str":
            raise FilterError(
                f"topic_match needs a string field; {arg.label} is {KIND_NAMES[arg.kind]}", arg.start, arg.end
            )
        flt = node.args[1]
        why = check_filter(flt.value)
        if why is not None:
            raise FilterError(why, flt.start, flt.end)
        m = compile_topic_filter(flt.value)
        g = arg.get

        def pred(f: Any) -> bool:
            for v in g(f):  # noqa: SIM110  (a plain loop beats any(genexpr) per frame)
                if m(v):
                    return True
            return False

        return pred

    def _literal_or_field(self, node: Any, lhs: Operand) -> tuple[Operand | None, Any]:
        """RHS: (operand, None) for a field/function, (None, value) for a literal of lhs's kind."""
        if isinstance(node, P.Word) and (node.text in REGISTRY or node.slices is not None):
            return self.field(node), None
        if isinstance(node, (P.Call, P.BitAnd)):
            return self.operand(node), None
        try:
            return None, convert(node, lhs.kind, lhs.fd, lhs.label)
        except FilterError:
            if isinstance(node, P.Word) and _looks_like_field(node.text) and "." in node.text:
                close = difflib.get_close_matches(node.text, list(REGISTRY), n=1, cutoff=0.8)
                if close:
                    raise unknown_field(node.text, node.start, node.end) from None
            raise

    def _lhs(self, node: Any) -> Operand:
        if isinstance(node, P.Word) and node.text not in REGISTRY:
            if _looks_like_field(node.text) and not node.text.isdigit():
                raise unknown_field(node.text, node.start, node.start + len(node.text))
            raise FilterError(
                f'left side must be a field or function, not the value "{node.text}"', node.start, node.end
            )
        if isinstance(node, (P.Str, P.Char)):
            raise FilterError("left side must be a field or function, not a value", node.start, node.end)
        return self.operand(node)

    def compare(self, node: P.Compare) -> Pred:
        lhs = self._lhs(node.lhs)
        test, quant = node.test, node.quant
        opspan = (node.op_start, node.op_end)
        optext = self.text[node.op_start : node.op_end]
        if lhs.kind == "none":
            raise FilterError(f"{lhs.label} has no value; test its presence alone", lhs.start, lhs.end)
        if test == "matches":
            return self.matches(lhs, node)
        rop, const = self._literal_or_field(node.rhs, lhs)
        if rop is not None:
            ok = rop.kind == lhs.kind or (rop.kind in NUMERIC and lhs.kind in NUMERIC)
            if not ok:
                raise FilterError(
                    f"{lhs.label} is {KIND_NAMES[lhs.kind]} and {rop.label} is {KIND_NAMES[rop.kind]}: "
                    "they cannot be compared",
                    node.start,
                    node.end,
                )
        if test == "contains":
            if lhs.kind not in ("str", "bytes"):
                raise FilterError(
                    f'{lhs.label} is {KIND_NAMES[lhs.kind]}: "contains" needs a string, bytes or protocol',
                    lhs.start,
                    lhs.end,
                )
        elif test not in ("eq", "ne") and lhs.kind not in ORDERED:
            raise FilterError(f'{lhs.label} cannot be ordered with "{optext}"', *opspan)
        elem = _element_test(test, lhs.kind)
        g = lhs.get
        if rop is None:
            if self.rows is None:
                fast = _generated(lhs, test, quant, const)
            else:
                fast = self.rows.generated(lhs, test, quant, const)
            if fast is not None:
                return fast
            single = lhs.single
            if single is not None:
                return lambda f: elem(single(f), const)
            if test == "eq" and quant == "any" and lhs.kind not in ("ipv4", "ipv6"):
                return lambda f: const in g(f)
            if quant == "any":

                def any_pred(f: Any) -> bool:
                    for v in g(f):  # noqa: SIM110  (a plain loop beats any(genexpr) per frame)
                        if elem(v, const):
                            return True
                    return False

                return any_pred

            def all_pred(f: Any) -> bool:
                vals = g(f)
                if not vals:
                    return False
                for v in vals:  # noqa: SIM110  (a plain loop beats any(genexpr) per frame)
                    if not elem(v, const):
                        return False
                return True

            return all_pred
        if lhs.kind in ("ipv4", "ipv6"):
            base = elem
            elem = lambda a, b: base(a, (b, b))  # noqa: E731  (a field's address is a one-address range)
        h = rop.get
        if quant == "any":
            return lambda f: any(elem(a, b) for a in g(f) for b in h(f))

        def all_pairs(f: Any) -> bool:
            left, right = g(f), h(f)
            return bool(left) and bool(right) and all(elem(a, b) for a in left for b in right)

        return all_pairs

    def matches(self, lhs: Operand, node: P.Compare) -> Pred:
        if lhs.kind not in ("str", "bytes"):
            raise FilterError(
                f'{lhs.label} is {KIND_NAMES[lhs.kind]}: "matches" needs a string (use string({lhs.label}) to convert)',
                lhs.start,
                lhs.end,
            )
        rhs = node.rhs
        if not isinstance(rhs, P.Str):
            raise FilterError('the regular expression of "matches" must be a double-quoted string', rhs.start, rhs.end)
        pattern, flags = rhs.value, re.IGNORECASE  # Wireshark 4.0: case-insensitive unless (?-i)
        if pattern.startswith("(?-i)"):
            pattern, flags = pattern[5:], 0
        try:
            rx = re.compile(pattern, flags | re.DOTALL if lhs.kind == "bytes" else flags)
        except re.error as e:
            # e.pos indexes the decoded pattern: exact unless the literal used escapes, so clamp to the string
            if e.pos is None:
                pos, end = rhs.start, rhs.end
            else:
                pos = min(rhs.start + 1 + e.pos + (5 if flags == 0 else 0), rhs.end - 1)
                end = pos + 1
            raise FilterError(f"bad regular expression: {e.msg}", pos, end) from None
        search = rx.search
        g = lhs.get
        to_s = (lambda v: v.decode("latin-1")) if lhs.kind == "bytes" else (lambda v: v)
        quant = node.quant
        if quant == "all":
            return lambda f: bool(vals := g(f)) and all(search(to_s(v)) for v in vals)

        def pred(f: Any) -> bool:
            for v in g(f):  # noqa: SIM110  (a plain loop beats any(genexpr) per frame)
                if search(to_s(v)):
                    return True
            return False

        return pred

    def in_set(self, node: P.InSet) -> Pred:
        lhs = self._lhs(node.lhs)
        if lhs.kind == "none":
            raise FilterError(f"{lhs.label} has no value; test its presence alone", lhs.start, lhs.end)
        singles: list = []
        ranges: list[tuple[Any, Any]] = []
        is_ip = lhs.kind in ("ipv4", "ipv6")
        for item in node.items:
            if isinstance(item, tuple):
                if lhs.kind not in ORDERED:
                    raise FilterError(f"{lhs.label} cannot be used in a range", item[0].start, item[1].end)
                lo = convert(item[0], lhs.kind, lhs.fd, lhs.label)
                hi = convert(item[1], lhs.kind, lhs.fd, lhs.label)
                if is_ip:
                    lo, hi = lo[0], hi[1]
                ranges.append((lo, hi))
            elif isinstance(item, P.Word) and item.text in REGISTRY:
                raise FilterError("set members must be values, not fields", item.start, item.end)
            else:
                v = convert(item, lhs.kind, lhs.fd, lhs.label)
                if is_ip:
                    ranges.append(v)
                else:
                    singles.append(v)
        members = frozenset(singles)
        g = lhs.get

        def member(v: Any) -> bool:
            if v in members:
                return True
            for lo, hi in ranges:  # noqa: SIM110  (a plain loop beats any(genexpr) per frame)
                if lo <= v <= hi:
                    return True
            return False

        if node.quant == "all":
            return lambda f: bool(vals := g(f)) and all(member(v) for v in vals)
        if not ranges:
            isdisjoint = members.isdisjoint
            if lhs.single is not None:
                s = lhs.single
                return lambda f: s(f) in members
            return lambda f: not isdisjoint(g(f))

        def pred(f: Any) -> bool:
            for v in g(f):  # noqa: SIM110  (a plain loop beats any(genexpr) per frame)
                if member(v):
                    return True
            return False

        return pred


_PYOP = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _generated(lhs: Operand, test: str, quant: str, const: Any) -> Pred | None:
    """Generated source for the hottest shapes: a summary-row field or mqtt.msgtype against a constant."""
    op = _PYOP.get(test)
    if op is None or lhs.kind not in ("int", "float", "time"):
        return None
    attr = access.FRAME_ATTRS.get(lhs.label)
    ns = {"c": const}
    if attr and lhs.single is not None:
        return eval(f"lambda f: f.{attr} {op} c", ns)  # noqa: S307  (operator and attribute from fixed tables)
    if lhs.label != "mqtt.msgtype":
        return None
    if quant == "any":
        src = (
            "def pred(f):\n    for p in f.pdus:\n"
            f"        if p.msgtype {op} c:\n            return True\n    return False\n"
        )
    else:
        src = (
            "def pred(f):\n    pdus = f.pdus\n    if not pdus:\n        return False\n"
            f"    for p in pdus:\n        if not p.msgtype {op} c:\n            return False\n    return True\n"
        )
    exec(src, ns)  # noqa: S102  (source built from fixed tables above)
    return ns["pred"]


def _element_test(test: str, kind: str) -> Callable[[Any, Any], bool]:
    """The test of one occurrence against one value (ip literals are (low, high) ranges)."""
    if kind in ("ipv4", "ipv6"):
        return {
            "eq": lambda v, r: r[0] <= v <= r[1],
            "ne": lambda v, r: not (r[0] <= v <= r[1]),
            "gt": lambda v, r: v > r[1],
            "ge": lambda v, r: v >= r[0],
            "lt": lambda v, r: v < r[0],
            "le": lambda v, r: v <= r[1],
        }[test]
    return {
        "eq": lambda v, c: v == c,
        "ne": lambda v, c: v != c,
        "gt": lambda v, c: v > c,
        "ge": lambda v, c: v >= c,
        "lt": lambda v, c: v < c,
        "le": lambda v, c: v <= c,
        "contains": lambda v, c: c in v,
    }[test]


def _chain(op: str, preds: list[Pred]) -> Pred:
    """Left-to-right short-circuit and/or over compiled tests (nested pairs: no loop per frame)."""
    acc = preds[0]
    for nxt in preds[1:]:
        a, b = acc, nxt
        acc = (lambda f, a=a, b=b: a(f) and b(f)) if op == "and" else (lambda f, a=a, b=b: a(f) or b(f))
    return acc


def compile_tree(text: str, tree: Any, rows: Any = None) -> tuple[Pred, set[str], set[str]]:
    c = Compiler(text, rows)
    pred = c.test(tree)
    protocols = {n.split(".", 1)[0] for n in c.fields}
    return pred, c.fields, protocols | c.plan.protocols


__all__ = ["compile_tree", "parse_int", "FilterError"]
