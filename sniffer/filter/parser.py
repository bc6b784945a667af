"""Recursive-descent parser: tokens -> syntax tree with character spans.

Grammar (Wireshark 4.0, lowest precedence first; `not` binds tighter than
`and`, which binds tighter than `or`, so `A and B or not C` is
`(A and B) or (not C)` exactly as wireshark-filter(4) of 4.0 documents it;
mixing and/or needs no parentheses):

    expr    := and_e (("or" | "||") and_e)*
    and_e   := not_e (("and" | "&&") not_e)*
    not_e   := ("not" | "!") not_e | test
    test    := "(" expr ")"
             | ["any" | "all"] value [relop value | "in" set | "contains" value | ("matches" | "~") value]
    value   := atom [("&" | "bitwise_and") atom]
    atom    := WORD ["[" slices "]"] | WORD "(" [value ("," value)*] ")" | STRING | CHAR
    set     := "{" item ([","] item)* "}"        item := atom [".." atom]
    relop   := == != === !== > >= < <= eq ne any_eq all_ne all_eq any_ne gt ge lt le

Words stay unresolved here (field name or literal); the compiler decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sniffer.filter import lexer as L
from sniffer.filter.errors import FilterError

# operator text -> (element test, quantifier over the field's occurrences)
RELOPS: dict[str, tuple[str, str]] = {
    "==": ("eq", "any"),
    "eq": ("eq", "any"),
    "any_eq": ("eq", "any"),
    "!=": ("ne", "all"),
    "ne": ("ne", "all"),
    "all_ne": ("ne", "all"),
    "===": ("eq", "all"),
    "all_eq": ("eq", "all"),
    "!==": ("ne", "any"),
    "any_ne": ("ne", "any"),
    ">": ("gt", "any"),
    "gt": ("gt", "any"),
    ">=": ("ge", "any"),
    "ge": ("ge", "any"),
    "<": ("lt", "any"),
    "lt": ("lt", "any"),
    "<=": ("le", "any"),
    "le": ("le", "any"),
    "contains": ("contains", "any"),
    "matches": ("matches", "any"),
    "~": ("matches", "any"),
}
KEYWORDS = frozenset(RELOPS) | {"and", "or", "not", "in", "any", "all", "bitwise_and"}


@dataclass
class Word:
    """An unquoted word: a field name or a literal, decided by the compiler."""

    text: str
    start: int
    end: int
    slices: list[tuple[str, int, int]] | None = None  # raw slice specs with their spans


@dataclass
class Str:
    value: str
    start: int
    end: int
    raw: bool = False


@dataclass
class Char:
    value: str
    start: int
    end: int


@dataclass
class Call:
    name: str
    args: list
    start: int
    end: int
    name_end: int = 0


@dataclass
class BitAnd:
    operand: object
    mask: object
    start: int
    end: int


@dataclass
class Exists:
    operand: object
    start: int
    end: int


@dataclass
class Compare:
    test: str  # eq ne gt ge lt le contains matches
    quant: str  # any | all
    lhs: object
    rhs: object
    op_start: int
    op_end: int
    start: int
    end: int


@dataclass
class InSet:
    lhs: object
    items: list  # atom or (atom, atom) range
    quant: str
    op_start: int
    op_end: int
    start: int
    end: int


@dataclass
class Not:
    child: object
    start: int
    end: int


@dataclass
class BoolOp:
    op: str  # "and" | "or"
    children: list = field(default_factory=list)
    start: int = 0
    end: int = 0


def span(node: object) -> tuple[int, int]:
    return node.start, node.end  # type: ignore[attr-defined]


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = L.tokenize(text)
        self.i = 0

    @property
    def tok(self) -> L.Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> L.Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> L.Token:
        t = self.toks[self.i]
        if t.kind != L.EOF:
            self.i += 1
        return t

    def is_kw(self, *words: str) -> bool:
        t = self.tok
        return (t.kind == L.WORD or t.kind == L.OP) and t.text in words

    def unexpected(self, what: str = "") -> FilterError:
        t = self.tok
        if t.kind == L.EOF:
            return FilterError(f"unexpected end of filter{what or ''}", t.start, t.start + 1)
        if t.kind == L.RPAREN:
            return FilterError("unbalanced parenthesis: ')' without a matching '('", t.start, t.end)
        shown = self.text[t.start : t.end]
        return FilterError(f'"{shown}" was unexpected here{what}', t.start, t.end)

    def parse(self) -> object:
        if self.tok.kind == L.EOF:
            raise FilterError("empty filter", 0, 1)
        node = self.expr()
        if self.tok.kind != L.EOF:
            raise self.unexpected(" (missing and/or between two tests?)" if self.tok.kind == L.WORD else "")
        return node

    def expr(self) -> object:
        first = self.and_e()
        if not self.is_kw("or", "||"):
            return first
        node = BoolOp("or", [first], first.start, first.end)
        while self.is_kw("or", "||"):
            self.take()
            child = self.and_e()
            node.children.append(child)
            node.end = child.end
        return node

    def and_e(self) -> object:
        first = self.not_e()
        if not self.is_kw("and", "&&"):
            return first
        node = BoolOp("and", [first], first.start, first.end)
        while self.is_kw("and", "&&"):
            self.take()
            child = self.not_e()
            node.children.append(child)
            node.end = child.end
        return node

    def not_e(self) -> object:
        if self.is_kw("not", "!"):
            t = self.take()
            child = self.not_e()
            return Not(child, t.start, child.end)
        return self.test()

    def test(self) -> object:
        t = self.tok
        if t.kind == L.LPAREN:
            self.take()
            inner = self.expr()
            if self.tok.kind != L.RPAREN:
                if self.tok.kind == L.EOF:
                    raise FilterError("unbalanced parenthesis: this '(' is never closed", t.start, t.end)
                raise self.unexpected(" (expected ')')")
            close = self.take()
            inner.start, inner.end = t.start, close.end
            return inner
        quant = None
        if t.kind == L.WORD and t.text in ("any", "all") and self.peek().kind == L.WORD:
            quant = self.take().text
        lhs = self.value()
        op = self.tok
        if (op.kind == L.OP or op.kind == L.WORD) and op.text in RELOPS:
            self.take()
            test, q = RELOPS[op.text]
            rhs = self.value()
            if quant is not None:
                q = quant
            return Compare(test, q, lhs, rhs, op.start, op.end, lhs.start, rhs.end)
        if op.kind == L.WORD and op.text == "in":
            self.take()
            items, end = self.set_items()
            return InSet(lhs, items, quant or "any", op.start, op.end, lhs.start, end)
        if quant is not None:
            raise FilterError(f'"{quant}" needs a comparison after the field', t.start, t.end)
        if op.kind == L.OP and op.text in ("=", "<>"):
            raise self.unexpected()
        return Exists(lhs, lhs.start, lhs.end)

    def set_items(self) -> tuple[list, int]:
        brace = self.tok
        if brace.kind != L.LBRACE:
            raise self.unexpected(" (a set is written {a, b, c} or {1..10})")
        self.take()
        items: list = []
        while True:
            if self.tok.kind == L.RBRACE:
                if not items:
                    raise FilterError("empty set {}", brace.start, self.tok.end)
                return items, self.take().end
            if self.tok.kind == L.EOF:
                raise FilterError("set is not closed: add '}'", brace.start, brace.end)
            lo = self.atom()
            if self.tok.kind == L.RANGE:
                self.take()
                hi = self.atom()
                items.append((lo, hi))
            else:
                items.append(lo)
            if self.tok.kind == L.COMMA:
                self.take()
                if self.tok.kind == L.RBRACE:
                    raise self.unexpected(" (a value is missing after ',')")

    def value(self) -> object:
        a = self.atom()
        if self.is_kw("&", "bitwise_and"):
            self.take()
            m = self.atom()
            return BitAnd(a, m, a.start, m.end)
        return a

    def atom(self) -> object:
        t = self.tok
        if t.kind == L.STRING:
            self.take()
            return Str(t.text, t.start, t.end, t.raw)
        if t.kind == L.CHAR:
            self.take()
            return Char(t.text, t.start, t.end)
        if t.kind == L.WORD:
            if t.text in KEYWORDS:
                raise FilterError(f'"{t.text}" is a keyword: a field or value was expected here', t.start, t.end)
            self.take()
            if self.tok.kind == L.LPAREN and self.tok.start == t.end:
                return self.call(t)
            w = Word(t.text, t.start, t.end)
            if self.tok.kind == L.LBRACKET:
                w.slices, w.end = self.slices()
            return w
        if t.kind == L.LPAREN:
            raise FilterError("a field or value was expected here, not '('", t.start, t.end)
        raise self.unexpected(" (a field or value was expected)")

    def call(self, name: L.Token) -> Call:
        self.take()  # "("
        args: list = []
        if self.tok.kind != L.RPAREN:
            while True:
                args.append(self.value())
                if self.tok.kind == L.COMMA:
                    self.take()
                    continue
                break
        if self.tok.kind != L.RPAREN:
            if self.tok.kind == L.EOF:
                raise FilterError(f"unbalanced parenthesis: {name.text}( is never closed", name.start, name.end + 1)
            raise self.unexpected(" (expected ',' or ')')")
        close = self.take()
        return Call(name.text, args, name.start, close.end, name.end)

    def slices(self) -> tuple[list[tuple[str, int, int]], int]:
        open_ = self.take()
        specs: list[tuple[str, int, int]] = []
        while True:
            t = self.tok
            if t.kind != L.WORD:
                raise FilterError("a slice is written [i:j], [i-j], [i], [:j] or [i:]", open_.start, t.end)
            self.take()
            specs.append((t.text, t.start, t.end))
            if self.tok.kind == L.COMMA:
                self.take()
                continue
            if self.tok.kind != L.RBRACKET:
                raise FilterError("slice is not closed: add ']'", open_.start, self.tok.end)
            return specs, self.take().end


def parse(text: str) -> object:
    """The syntax tree of a display filter; raises FilterError with the span of the problem."""
    return Parser(text).parse()
