"""The capture interfaces a pcapng file describes, as the frame tree shows them (tshark's frame.interface_*).

The reader meets an Interface Description Block before the frames that name it; the driver records each
interface's if_description here, and a frame's tree (built at once by a printer, or later by the UI's store)
looks it up by the frame's interface id and name, so that a Frame carries two small values, not the text.
"""

from __future__ import annotations

from typing import Final

# (interface id, if_name) -> if_description, for interfaces that have one; the last file read wins
DESCRIPTIONS: Final[dict[tuple[int, str], str]] = {}


def describe(names: list[str], descriptions: list[str]) -> None:
    """Record the descriptions of the interfaces read so far (lists indexed by interface id)."""
    for ifid, desc in enumerate(descriptions):
        if desc:
            DESCRIPTIONS[ifid, names[ifid] if ifid < len(names) else ""] = desc
