"""MQTT topic-filter matching, the one extension mqttsniff adds to Wireshark's language.

Syntax: `topic_match(FIELD, "FILTER")`, a test that is true when any occurrence of
the string FIELD (mqtt.topic, mqtt.willtopic, ...) matches the MQTT topic filter
FILTER with MQTT's wildcard rules (MQTT 3.1.1 §4.7 / 5.0 §4.7):

- `+` matches exactly one topic level:   "sensors/+/temp" matches "sensors/k1/temp"
- `#` (last level only) matches the parent level and any number of levels below:
  "sensors/#" matches "sensors", "sensors/k1" and "sensors/k1/temp"
- a filter beginning with a wildcard does not match topics beginning with `$`
  ("#" does not match "$SYS/broker/uptime"; "$SYS/#" does)

Wireshark has no function of that name, so an expression using it can never be
read differently by Wireshark (tshark rejects it: "function does not exist").
"""

from __future__ import annotations

from collections.abc import Callable


def check_filter(flt: str) -> str | None:
    """Why `flt` is not a valid MQTT topic filter, or None if it is."""
    if flt == "":
        return "an MQTT topic filter cannot be empty"
    levels = flt.split("/")
    for i, lvl in enumerate(levels):
        if "#" in lvl and (lvl != "#" or i != len(levels) - 1):
            return "'#' must be the whole last level of a topic filter (e.g. \"a/b/#\")"
        if "+" in lvl and lvl != "+":
            return "'+' must be a whole level of a topic filter (e.g. \"a/+/c\")"
    return None


def compile_topic_filter(flt: str) -> Callable[[str], bool]:
    """A predicate topic -> bool for a valid topic filter (see check_filter)."""
    levels = flt.split("/")
    wild_first = levels[0] in ("+", "#")
    if "+" not in levels and "#" not in levels:
        return flt.__eq__  # no wildcard: plain equality
    multi = levels[-1] == "#"
    fixed = levels[:-1] if multi else levels
    n = len(fixed)

    def match(topic: str) -> bool:
        if wild_first and topic.startswith("$"):
            return False
        parts = topic.split("/")
        if multi:
            # "a/#" matches "a" itself, and anything below it
            if len(parts) < n:
                return False
        elif len(parts) != n:
            return False
        for want, got in zip(fixed, parts, strict=False):  # noqa: SIM110
            if want != "+" and want != got:
                return False
        return True

    return match
