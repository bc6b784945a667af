"""Pane sizes (packet list / details / bytes): + and - or a drag of a border, remembered in the config dir.

The sizes are weights (Textual `fr` units, summing to TOTAL) kept in
$XDG_CONFIG_HOME/mqttsniff/layout.json (~/.config/mqttsniff without XDG_CONFIG_HOME). Under sudo the
invoking user's ~/.config is used and what is written there is handed to that user; a file that
cannot be read or makes no sense is ignored, a failed save only skipped: the layout is a comfort.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
from typing import Any

from textual.binding import Binding

PANES = ("list", "details", "bottom")  # top to bottom
DEFAULT = (40, 30, 30)  # percent, as app.tcss's 4fr 3fr 3fr
TOTAL = 100
STEP = 5  # a key press moves a border by a twentieth of the height
MIN = 5  # no pane shrinks below a twentieth (a row or two): it could not be found again

BINDINGS = [
    Binding("plus,equals_sign", "pane_size(1)", "Grow pane", show=False, id="pane-grow", key_display="+"),
    Binding("minus", "pane_size(-1)", "Shrink pane", show=False, id="pane-shrink", key_display="-"),
]
DESCRIPTIONS = {"pane_size": "Grow (+) or shrink (-) the focused pane; the sizes are remembered"}
KEYS = [("+ -", "grow / shrink the focused pane (packets, details, bytes; remembered across runs)")]


def _sudo_user() -> pwd.struct_passwd | None:
    """The user who ran sudo, when we run as root through it."""
    name = os.environ.get("SUDO_USER")
    if not name or os.geteuid() != 0 or name == "root":
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def config_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME")  # kept by `sudo -E`: then it is the user's already
    if not base:
        user = _sudo_user()  # sudo's HOME is root's: the invoking user's directory instead
        home = user.pw_dir if user is not None else os.path.expanduser("~")
        base = os.path.join(home, ".config")
    return os.path.join(base, "mqttsniff")


def config_path() -> str:
    return os.path.join(config_dir(), "layout.json")


def load() -> tuple[int, ...]:
    """The remembered sizes, or DEFAULT_SIZES when there are none or they cannot be used."""
    try:
        with open(config_path(), encoding="utf-8") as f:
            data = json.load(f)
        sizes = tuple(data["sizes"])
    except (OSError, ValueError, TypeError, KeyError):
        return default_sizes()
    if len(sizes) != len(PANES) or not all(type(s) is int and s >= MIN for s in sizes) or sum(sizes) != TOTAL:
        return default_sizes()
    return sizes


def default_sizes() -> tuple[int, ...]:
    return DEFAULT


def save(sizes: tuple[int, ...]) -> bool:
    """Write the sizes; False when it cannot be done (it is then skipped, silently)."""
    user = _sudo_user()
    if os.geteuid() == 0 and os.environ.get("SUDO_USER") and user is None:
        return False  # sudo, but the invoking user is unknown: no root-owned file in someone's home
    if user is not None and not os.path.isdir(user.pw_dir):
        return False  # (nobody's /nonexistent): not created as root
    path = config_path()
    tmp = path + ".tmp"
    try:
        made = _makedirs(os.path.dirname(path))
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"sizes": list(sizes)}, f)
        if user is not None:
            for p in [*made, tmp]:
                os.chown(p, user.pw_uid, user.pw_gid)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def _makedirs(path: str) -> list[str]:
    """Create `path` and its missing parents; the ones created, outermost first."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for p in reversed(missing):
        os.mkdir(p, 0o755)
    return list(reversed(missing))


def resized(sizes: tuple[int, ...], pane: int, step: int) -> tuple[int, ...]:
    """`pane` grown (step 1) or shrunk (-1) by STEP, taken from / given to a neighbour."""
    new = list(sizes)
    if step > 0:
        # take from the largest other pane that can give
        give = max((i for i in range(len(new)) if i != pane), key=lambda i: new[i])
        amount = min(STEP, new[give] - MIN)
        if amount <= 0:
            return sizes
        new[give] -= amount
        new[pane] += amount
    else:
        amount = min(STEP, new[pane] - MIN)
        if amount <= 0:
            return sizes
        nxt = pane + 1 if pane + 1 < len(new) else pane - 1  # the pane below (the bytes: above)
        new[pane] -= amount
        new[nxt] += amount
    return tuple(new)


def dragged(sizes: tuple[int, ...], border: int, offset: int, height: int) -> tuple[int, ...]:
    """The sizes with `border` (0: list/details, 1: details/bytes) moved to `offset` rows from the
    top of the `height` rows the panes share; the two panes beside it keep their sum."""
    new = list(sizes)
    pair = new[border] + new[border + 1]
    above = sum(new[:border])
    # rounded up: Textual rounds fr shares down, and the border should land on the pointer's row
    want = -(-offset * TOTAL // max(height, 1)) - above  # the upper pane's new size
    new[border] = max(MIN, min(want, pair - MIN))
    new[border + 1] = pair - new[border]
    return tuple(new)


class LayoutActions:
    """Apply, resize and remember the pane sizes; mixed into SnifferApp."""

    pane_sizes: tuple[int, ...] = DEFAULT
    focused: Any
    _drag_border: int = -1  # the border being dragged with the mouse, -1: none

    def pane_widgets(self) -> list[Any]:
        app: Any = self
        return [app.query_one("#list-pane"), app.details, app.bottom]

    def restore_layout(self) -> None:
        self.pane_sizes = load()
        self.apply_layout()

    def apply_layout(self) -> None:
        for widget, size in zip(self.pane_widgets(), self.pane_sizes, strict=True):
            widget.styles.height = f"{size}fr"

    def focused_pane(self) -> int:
        """Which pane holds the focus (the packet list when it is elsewhere, e.g. the filter bar)."""
        widget = self.focused
        panes = self.pane_widgets()
        while widget is not None:
            if widget in panes:
                return panes.index(widget)
            widget = widget.parent
        return 0

    def action_pane_size(self, step: int) -> None:
        """Grow (+) or shrink (-) the focused pane; the sizes are saved for the next run."""
        app: Any = self
        if len(app.screen_stack) > 1:
            return  # a "+" under a dialog: the focus is in the dialog, no pane to grow
        new = resized(self.pane_sizes, self.focused_pane(), step)
        if new == self.pane_sizes:
            self.bell()  # type: ignore[attr-defined]
            return
        self.pane_sizes = new
        self.apply_layout()
        save(new)

    # -- mouse: drag the top border of the details or of the bytes pane --------------------------
    def on_mouse_down(self, event: Any) -> None:
        app: Any = self
        if len(app.screen_stack) > 1:
            return  # a dialog or a view is on top: its clicks are its own
        panes = self.pane_widgets()
        for border, pane in enumerate(panes[1:]):
            if pane.region.height and event.screen_y == pane.region.y:
                self._drag_border = border
                app.capture_mouse(pane)
                event.stop()
                return

    def on_mouse_move(self, event: Any) -> None:
        if self._drag_border < 0:
            return
        panes = self.pane_widgets()
        top = panes[0].region.y
        height = sum(p.region.height for p in panes)
        new = dragged(self.pane_sizes, self._drag_border, event.screen_y - top, height)
        if new != self.pane_sizes:
            self.pane_sizes = new
            self.apply_layout()

    def on_mouse_up(self, event: Any) -> None:
        if self._drag_border < 0:
            return
        self._drag_border = -1
        app: Any = self
        app.capture_mouse(None)
        save(self.pane_sizes)
