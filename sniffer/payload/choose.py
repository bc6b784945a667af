"""Which decoder a PUBLISH payload gets, and the user's topic → decoder table.

The order (issue 15; MQTT Explorer's false positives show why bytes alone are not trusted):
1. the user's topic filters (`-o mqtt.decode:"spBv1.0/#=sparkplug"`, repeatable, then the
   [topics] table of $XDG_CONFIG_HOME/mqttsniff/decoders.toml), first match wins, MQTT wildcards;
2. the MQTT 5 Content Type (application/json, application/cbor, application/msgpack, text/*, ...);
   a content type named but unknown stops here: the sender said what it is;
3. the Payload Format Indicator 1 (UTF-8): text, or JSON when it is a JSON document;
4. the Sparkplug B topic namespace spBv1.0/...;
5. content only where it is unambiguous: a JSON object or array that parses completely.
Nothing else is guessed. A decoder spec is a name, or a compression then a name: "gzip+json".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Final

DECODERS: Final = ("text", "json", "cbor", "msgpack", "sparkplug", "hex")
COMPRESSIONS: Final = ("gzip", "zlib", "deflate")
ALIASES: Final = {"sparkplugb": "sparkplug", "spb": "sparkplug", "messagepack": "msgpack", "utf8": "text"}
# MQTT 5 content types (the media type, lower case, parameters dropped) -> decoder spec
CONTENT_TYPES: Final = {
    "application/json": "json",
    "text/json": "json",
    "application/cbor": "cbor",
    "application/msgpack": "msgpack",
    "application/x-msgpack": "msgpack",
    "application/vnd.msgpack": "msgpack",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/zlib": "zlib",
    "application/octet-stream": "hex",
    "application/x-protobuf;sparkplug": "sparkplug",
}
_SUFFIXES: Final = {"+json": "json", "+cbor": "cbor", "+msgpack": "msgpack"}


class DecodeConfigError(ValueError):
    """A bad topic → decoder mapping (-o mqtt.decode or decoders.toml): one line for the user."""


def parse_spec(spec: str) -> tuple[str, ...]:
    """'gzip+json' -> ('gzip', 'json'); 'sparkplugb' -> ('sparkplug',). Raises DecodeConfigError."""
    names = tuple(ALIASES.get(s, s) for s in (p.strip().lower() for p in spec.split("+")))
    known = ", ".join(DECODERS + COMPRESSIONS)
    for i, name in enumerate(names):
        last = i == len(names) - 1
        if name in COMPRESSIONS and not last:
            continue
        if name in COMPRESSIONS or (name in DECODERS and last):
            continue
        raise DecodeConfigError(f"unknown payload decoder '{spec}' (known: {known}; a compression may lead: gzip+json)")
    return names


def _check_filter(flt: str) -> str | None:
    if not flt:
        return "an empty topic filter"
    levels = flt.split("/")
    for i, lvl in enumerate(levels):
        if "#" in lvl and (lvl != "#" or i != len(levels) - 1):
            return "'#' must be the last level of a topic filter"
        if "+" in lvl and lvl != "+":
            return "'+' must be a whole level of a topic filter"
    return None


def topic_matcher(flt: str) -> Callable[[str], bool]:
    """MQTT matching: '+' one level, '#' the rest (and the parent); a leading wildcard skips $SYS/..."""
    levels = flt.split("/")
    if "+" not in levels and "#" not in levels:
        return flt.__eq__
    multi = levels[-1] == "#"
    fixed = levels[:-1] if multi else levels
    wild_first = levels[0] in ("+", "#")

    def match(topic: str) -> bool:
        if wild_first and topic.startswith("$"):
            return False
        parts = topic.split("/")
        if (len(parts) < len(fixed)) if multi else (len(parts) != len(fixed)):
            return False
        return all(w == "+" or w == g for w, g in zip(fixed, parts, strict=False))

    return match


class Rule:
    __slots__ = ("topic_filter", "spec", "match", "origin")

    def __init__(self, topic_filter: str, spec: tuple[str, ...], origin: str) -> None:
        self.topic_filter = topic_filter
        self.spec = spec
        self.match = topic_matcher(topic_filter)
        self.origin = origin  # where the user wrote it, for the tree's "[Message decoded as: ...]"


def rule_from(item: str, origin: str) -> Rule:
    """'FILTER=DECODER' -> a Rule (the -o mqtt.decode value)."""
    flt, sep, spec = item.rpartition("=")
    if not sep:
        raise DecodeConfigError(f"bad mqtt.decode '{item}': expected TOPIC_FILTER=DECODER, e.g. spBv1.0/#=sparkplug")
    problem = _check_filter(flt)
    if problem is not None:
        raise DecodeConfigError(f"bad topic filter '{flt}' in mqtt.decode: {problem}")
    return Rule(flt, parse_spec(spec), origin)


def config_path() -> str:
    """$XDG_CONFIG_HOME/mqttsniff/decoders.toml; under sudo, the invoking user's."""
    base = os.environ.get("XDG_CONFIG_HOME")
    if not base:
        home = os.path.expanduser("~")
        sudo_user = os.environ.get("SUDO_USER")
        if sudo_user and os.geteuid() == 0:
            import pwd

            with contextlib.suppress(KeyError):
                home = pwd.getpwnam(sudo_user).pw_dir
        base = os.path.join(home, ".config")
    return os.path.join(base, "mqttsniff", "decoders.toml")


def rules_from_file(path: str) -> list[Rule]:
    """The [topics] table of a decoders.toml: "topic/filter/#" = "decoder"; no file, no rules."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    except PermissionError:
        if not os.path.lexists(path):  # a directory on the way we may not enter: no file we can see
            return []
        raise DecodeConfigError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise DecodeConfigError(f"cannot read {path}: {e.strerror}") from None
    tomllib = toml_module(path)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DecodeConfigError(f"{path}: not valid TOML ({e})") from None
    topics = doc.get("topics", {})
    if not isinstance(topics, dict) or set(doc) - {"topics"}:
        raise DecodeConfigError(f'{path}: expected only a [topics] table of "topic/filter" = "decoder" lines')
    rules = []
    for flt, spec in topics.items():
        if not isinstance(spec, str):
            raise DecodeConfigError(f"{path}: the decoder of '{flt}' must be a string, e.g. \"json\"")
        try:
            rules.append(rule_from(f"{flt}={spec}", path))
        except DecodeConfigError as e:
            raise DecodeConfigError(f"{path}: {e}") from None
    return rules


def toml_module(path: str):  # type: ignore[no-untyped-def]
    """tomllib (Python 3.11+), or tomli on 3.10; without either a config file is one clear line."""
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise DecodeConfigError(f"{path}: reading TOML needs Python 3.11 or the tomli package") from None
    return tomllib


class Config:
    """The user's rules and the decompression cap (--max-pdu), set once by the CLI."""

    rules: list[Rule] = []
    max_out: int = 16 * 1024 * 1024


def configure(items: list[str], max_out: int, path: str | None = None) -> None:
    """Rules from -o mqtt.decode values, then from the TOML file; raises DecodeConfigError."""
    rules = [rule_from(i, "-o mqtt.decode") for i in items]
    rules += rules_from_file(path if path is not None else config_path())
    Config.rules = rules
    Config.max_out = max_out


def content_type_spec(ct: str) -> str | None:
    media = ct.split(";", 1)[0].strip().lower()
    spec = CONTENT_TYPES.get(media)
    if spec is None:
        if media.startswith("text/"):
            return "text"
        for suffix, name in _SUFFIXES.items():
            if media.endswith(suffix):
                return name
    return spec


def choose(topic: str, content_type: str | None, pfi: int, data: bytes) -> tuple[tuple[str, ...], str] | None:
    """(decoder spec, why) for one payload, or None: shown as the bytes it is."""
    from sniffer.payload.jsontree import is_document  # loaded with the first payload looked at

    for rule in Config.rules:
        if rule.match(topic):
            return rule.spec, f"topic filter {rule.topic_filter} ({rule.origin})"
    if content_type is not None:
        spec = content_type_spec(content_type)
        if spec is None:
            return None
        return parse_spec(spec), f"content type {content_type}"
    if pfi == 1:
        return (("json",) if is_document(data) else ("text",)), "payload format indicator: UTF-8"
    if topic.startswith("spBv1.0/"):
        return (("json",) if topic.startswith("spBv1.0/STATE/") else ("sparkplug",)), "Sparkplug B topic"
    if is_document(data):
        return ("json",), "content: a JSON document"
    return None
