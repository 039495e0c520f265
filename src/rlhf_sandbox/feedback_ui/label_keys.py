"""Keys of the labelling app, and pygame key events turned into controller actions.

One table (:data:`KEYS`) serves the key handling, the buttons' key hints and the help line.
"""

from __future__ import annotations

from typing import Any

from rlhf_sandbox.feedback_ui.items import COMPARE

TAG_KEYS = "qwertyui"  # tag i toggles with TAG_KEYS[i] (at most 8 tags)
MAX_TAGS = len(TAG_KEYS)

# (mode or "" for both, key name as pygame.key.name gives it, action, value)
KEYS: list[tuple[str, str, str, Any]] = [
    ("compare", "1", "answer", "left"),
    ("compare", "2", "answer", "right"),
    ("compare", "3", "answer", "equal"),
    ("compare", "4", "answer", "cant_tell"),
    ("rate", "1", "score", 1),
    ("rate", "2", "score", 2),
    ("rate", "3", "score", 3),
    ("rate", "4", "score", 4),
    ("rate", "5", "score", 5),
    ("rate", "up", "thumb", 1),
    ("rate", "down", "thumb", -1),
    ("rate", "x", "skip", None),
    ("", "space", "pause", None),
    ("", ".", "step", 1),
    ("", ",", "step", -1),
    ("", "right", "nudge", 0.5),
    ("", "left", "nudge", -0.5),
    ("", "home", "seek", 0.0),
    ("", "]", "speed", 1),
    ("", "[", "speed", -1),
    ("", "z", "undo", None),
    ("", "backspace", "undo", None),
    ("", "return", "comment", None),
    ("", "o", "overlay", None),
    ("", "h", "rubric", None),
    ("", "escape", "quit", None),
]
KEYS += [("", TAG_KEYS[i], "tag", i) for i in range(MAX_TAGS)]


def key_for(mode: str, action: str, value: Any = None) -> str:
    """The key that does ``action`` (with ``value``) in ``mode``, for hints ("" if none)."""
    for m, key, a, v in KEYS:
        if (m in ("", mode)) and a == action and (value is None or v == value):
            return key
    return ""


def key_action(mode: str, key_name: str, ctrl: bool = False) -> tuple[str, Any] | None:
    """The action of a key press outside comment typing; Ctrl+C and Ctrl+Z included."""
    if ctrl and key_name == "c":
        return ("quit", None)
    if ctrl and key_name == "z":
        return ("undo", None)
    for m, key, a, v in KEYS:
        if m in ("", mode) and key == key_name:
            return (a, v)
    if key_name == "keypad enter" or key_name == "enter":
        return ("comment", None)
    if key_name.startswith("[") and key_name.endswith("]") and key_name[1:-1].isdigit():
        return key_action(mode, key_name[1:-1])  # keypad digits
    return None


def editing_action(key_name: str) -> tuple[str, Any] | None:
    """While typing a comment: Enter keeps it, Esc drops the edit, Backspace deletes."""
    return {
        "return": ("commit", None),
        "enter": ("commit", None),
        "keypad enter": ("commit", None),
        "escape": ("cancel", None),
        "backspace": ("backspace", None),
    }.get(key_name)


def translate(event: Any, mode: str, editing: bool) -> tuple[str, Any] | None:
    """A pygame KEYDOWN or TEXTINPUT event as an action (None: not ours)."""
    import pygame

    if event.type == pygame.TEXTINPUT:
        return ("text", event.text) if editing else None
    if event.type != pygame.KEYDOWN:
        return None
    name = pygame.key.name(event.key)
    if editing:
        return editing_action(name)
    return key_action(mode, name, bool(event.mod & pygame.KMOD_CTRL))


__all__ = ["COMPARE", "KEYS", "MAX_TAGS", "TAG_KEYS", "editing_action", "key_action", "key_for"]
