"""A user's own oracle, named ``MODULE:ATTR``: an importable module and an oracle in it.

A plug-in oracle is code the user runs: importing the module executes it, with this
process's rights. The module is found on PYTHONPATH, among the installed packages, or in
the current folder. The object must be an
:class:`~rlhf_sandbox.agents.teachers.oracles.Oracle` (build it with
:func:`~rlhf_sandbox.agents.teachers.oracles.oracle_from_callable`). A run saves the spec
with :func:`source_hash` of the module's source, so that ``--resume`` can say when the
code that judges its clips has changed since the run began.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from typing import Any

from rlhf_sandbox.agents.teachers.oracles import Oracle

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
_SPEC = re.compile(rf"^({_DOTTED}):({_DOTTED})$")


class PluginError(ValueError):
    """A plug-in oracle cannot be loaded; the message names the module or attribute."""


def is_plugin_spec(spec: str) -> bool:
    """Whether ``spec`` has the form ``MODULE:ATTR`` (dotted names, nothing else)."""
    return _SPEC.match(spec) is not None


def _split(spec: str) -> tuple[str, str]:
    m = _SPEC.match(spec)
    if m is None:
        raise PluginError(
            f"teacher {spec!r} is neither a built-in oracle nor MODULE:ATTR (an importable"
            " module and an oracle object in it)"
        )
    return m.group(1), m.group(3)


def _module(spec: str) -> Any:
    """Import the spec's module; the current folder is searched after PYTHONPATH and the
    installed packages (as ``python -m`` would, but never ahead of them)."""
    name, _ = _split(spec)
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            raise PluginError(
                f"teacher {spec!r}: no module named {name!r} (is its folder on PYTHONPATH,"
                " or the current folder?)"
            ) from None
        raise PluginError(f"teacher {spec!r}: importing {name!r} failed: {e}") from None
    except Exception as e:  # the user's module raised while importing
        raise PluginError(
            f"teacher {spec!r}: importing {name!r} raised {type(e).__name__}: {e}"
        ) from None


def load_oracle(spec: str) -> Oracle:
    """The oracle object ``ATTR`` of module ``MODULE`` (imported: its code runs)."""
    name, attr = _split(spec)
    obj: Any = _module(spec)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"teacher {spec!r}: module {name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, Oracle) or not isinstance(getattr(obj, "features", None), tuple):
        raise PluginError(
            f"teacher {spec!r}: {attr} is a {type(obj).__name__}, not an oracle; build it"
            " with rlhf_sandbox.agents.teachers.oracles.oracle_from_callable(fn, name,"
            " features)"
        )
    return obj


def source_hash(spec: str) -> str:
    """sha256 of the plug-in module's source file ("" when it has none we can read)."""
    name, _ = _split(spec)
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ""
    origin = found.origin if found is not None else None
    if not origin or not origin.endswith(".py"):
        return ""
    try:
        with open(origin, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return ""


class TeacherSourceChanged(UserWarning):
    """A resumed run's plug-in oracle is not the code it began with."""


def source_change(spec: str, saved: str) -> str | None:
    """What to tell when ``spec``'s module source no longer has the hash ``saved`` (None
    when it is the same, or nothing was saved)."""
    now = source_hash(spec)
    if not saved or now == saved:
        return None
    module = _split(spec)[0]
    return (
        f"teacher {spec!r}: the source of module {module!r} has changed since the run began"
        f" (sha256 {saved[:12]} then, {now[:12] or 'unreadable'} now); its labels from now on"
        " judge by the new code"
    )
