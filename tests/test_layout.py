"""The package's layout, held by reading its imports with ``ast``.

The rules come from DESIGN.md (../shared/DESIGN.md, section "Layout"); change them there
first. Every import of ``rlhf_sandbox`` counts, wherever it sits (module body, functions,
methods, ``if TYPE_CHECKING:``, try/except), relative imports included. Floors, by the
importing module's first part under ``rlhf_sandbox`` (a part may always import itself):

- ``files``, ``config``, ``display``: nothing of ours (the foundations: the atomic writers
  and folder markers, typed settings, where pygame draws);
- ``sim``: only ``sim``;  ``envs``: ``sim``, ``config``, ``files``;
- ``store``: ``files``, ``config``;
- ``agents``: ``sim``, ``envs``, ``store``, the foundations (never ``feedback_ui``, ``cli``);
- ``feedback_ui``: anything but ``cli``;  ``cli``: anything;
- ``rlhf_sandbox/__init__.py``: ``envs`` only (so a bare ``import rlhf_sandbox`` counts as
  importing ``envs``).

Inside ``agents`` every module lives in one subpackage, and a subpackage imports itself and
strictly lower tiers only (1: teachers, policy; 2: reward, evaluation; 3: feedback; 4: rlhf;
5: sweep); ``agents/__init__.py`` imports none of them; the subpackages form no import cycle.
A module outside the named parts (at the top level or directly in ``agents/``) is a
violation too: the layout gives it no floor.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import rlhf_sandbox

ROOT = "__init__"  # the part name of the package root, rlhf_sandbox/__init__.py


@dataclass(frozen=True)
class Floor:
    """What a part may import: only the parts in ``may`` (None: any), never those in ``never``."""

    may: frozenset[str] | None = None
    never: frozenset[str] = frozenset()

    def allows(self, part: str) -> bool:
        return part not in self.never and (self.may is None or part in self.may)

    def __str__(self) -> str:
        if self.may is None:
            return f"may import anything but {', '.join(sorted(self.never))}"
        return (
            f"may import only {', '.join(sorted(self.may))}"
            if self.may
            else "may import nothing of ours"
        )


def _only(*parts: str) -> Floor:
    return Floor(may=frozenset(parts))


RULES: dict[str, Floor] = {
    "files": _only(),
    "config": _only(),
    "display": _only(),
    "sim": _only("sim"),
    "envs": _only("sim", "config", "files", "envs"),
    "store": _only("store", "files", "config"),
    "agents": _only("sim", "envs", "store", "config", "files", "display", "agents"),
    "feedback_ui": Floor(never=frozenset({"cli"})),
    "cli": Floor(),
    ROOT: _only("envs"),
}
Rules = Mapping[str, Floor]  # the floor of each part (ROOT: the package root)
Tiers = Mapping[str, int]  # the tier of each agents subpackage
TIERS = dict(teachers=1, policy=1, reward=2, evaluation=2, feedback=3, rlhf=4, sweep=5)


def _targets(
    node: ast.Import | ast.ImportFrom, here: list[str], exists: Callable[[str], bool]
) -> Iterator[str]:
    """Absolute names the node imports (``here``: the file's package, for relative imports).

    ``from X import n`` imports ``X.n`` where that is a module or package, else ``X``.
    """
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from the file's own package, climbing level - 1 more
        if node.level > len(here):
            return  # climbs out of the package: not ours
        start = here[: len(here) - node.level + 1]
        base = ".".join([*start, base] if base else start)
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if alias.name != "*" and exists(sub) else base


def _misplaced(rel: Path, own: list[str], rules: Rules, tiers: Tiers) -> str | None:
    """Why a module has no place in the layout, or None."""
    part = own[0] if own else ROOT
    if part not in rules:
        return f"{part} is not a part of the layout ({', '.join(sorted(set(rules) - {ROOT}))})"
    if part != "agents" or len(own) < 2:
        return None
    if len(rel.parts) == 2:
        return f"agents/ holds only the subpackages ({', '.join(tiers)}), not modules"
    if own[1] not in tiers:
        return f"agents.{own[1]} is not one of agents' subpackages ({', '.join(tiers)})"
    return None


def _judge(own: list[str], to: list[str], rules: Rules, tiers: Tiers) -> str | None:
    """Why importing ``to`` from ``own`` (both as parts under the package) breaks a rule."""
    part, target = (own[0] if own else ROOT), (to[0] if to else ROOT)
    floor, root = rules[part], rules[ROOT].may
    if target == ROOT and root is not None and all(p == part or floor.allows(p) for p in root):
        return None  # the bare package stands for what its __init__.py may import
    if target != part and not floor.allows(target):
        return f"{'the package root' if part == ROOT else part} {floor}"
    if part == target == "agents" and len(to) > 1:
        if len(own) == 1:
            return "agents/__init__.py imports no subpackage"
        a, b = own[1], to[1]
        if a in tiers and b in tiers and a != b and tiers[b] >= tiers[a]:
            return (
                f"agents.{a} (tier {tiers[a]}) may import only itself and lower tiers, "
                f"not agents.{b} (tier {tiers[b]})"
            )
    return None


def _cycles(edges: Mapping[str, set[str]]) -> list[str]:
    """One message per group of agents subpackages that import each other in a cycle."""
    reach: dict[str, set[str]] = {}
    for start in edges:
        seen: set[str] = set()
        stack = [start]
        while stack:
            stack.extend(new := edges.get(stack.pop(), set()) - seen)
            seen |= new
        reach[start] = seen
    groups = {
        frozenset(b for b in reach[a] if a in reach.get(b, ())) for a in edges if a in reach[a]
    }
    message = "agents subpackages import each other in a cycle: "
    return sorted(message + ", ".join(sorted(group)) for group in groups)


def check_imports(
    package_dir: Path,
    package: str = "rlhf_sandbox",
    rules: Rules = RULES,
    tiers: Tiers = TIERS,
) -> list[str]:
    """Every layout violation under ``package_dir`` (the folder of ``package``), one a line."""

    def exists(name: str) -> bool:
        first, *parts = name.split(".")
        path = package_dir.joinpath(*parts)
        return first == package and (path.is_dir() or path.with_suffix(".py").is_file())

    violations: list[str] = []
    edges: dict[str, set[str]] = {}  # agents subpackage -> the agents subpackages it imports
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir)
        where = f"{package}/{rel.as_posix()}"
        own = list(rel.with_suffix("").parts)
        own = own[:-1] if own[-1] == "__init__" else own
        if problem := _misplaced(rel, own, rules, tiers):
            violations.append(f"{where}: {problem}")
        if (own[0] if own else ROOT) not in rules:
            continue  # no floor to judge its imports by
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except OSError:
            continue  # moved away while we read (the tree is being reorganised)
        except (SyntaxError, ValueError) as error:
            violations.append(f"{where}: cannot be parsed ({error})")
            continue
        here = [package, *(own if rel.name == "__init__.py" else own[:-1])]
        subpackage = own[1] if own[:1] == ["agents"] and len(rel.parts) > 2 else None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in dict.fromkeys(_targets(node, here, exists)):
                first, *to = name.split(".")
                if first != package:
                    continue  # not ours
                if subpackage and to[:1] == ["agents"] and len(to) > 1 and to[1] != subpackage:
                    edges.setdefault(subpackage, set()).add(to[1])
                if reason := _judge(own, to, rules, tiers):
                    violations.append(f"{where}:{node.lineno} imports {name}: {reason}")
    return violations + _cycles(edges)


def test_package_follows_the_layout_rules() -> None:
    violations = check_imports(Path(rlhf_sandbox.__file__).parent)
    assert not violations, f"{len(violations)} layout violations:\n" + "\n".join(violations)


# Synthetic packages: "== path" starts a file, the lines below are its text; every folder
# gets an empty __init__.py unless it has one.
CLEAN = """
== __init__.py
from rlhf_sandbox import envs as envs
== config.py
import os
== files.py
== sim/rng.py
== sim/world.py
from . import rng
from rlhf_sandbox.sim.rng import seed
== envs/core.py
import numpy
from rlhf_sandbox.sim import world
from ..config import Config
== store/db.py
from ..files import write
from . import __name__
== agents/teachers/oracle.py
from rlhf_sandbox.envs import core
== agents/policy/ppo.py
from rlhf_sandbox.store import db
import rlhf_sandbox
== agents/rlhf/settings.py
== agents/rlhf/loop.py
from rlhf_sandbox.agents.teachers import oracle
from ..policy import ppo
from . import settings
== feedback_ui/app.py
def run():
    from rlhf_sandbox.agents.rlhf import loop
== cli/main.py
import rlhf_sandbox
from rlhf_sandbox import agents, envs, feedback_ui, sim, store
from rlhf_sandbox.agents.rlhf import loop
"""
FORBIDDEN = """
== sim/world.py
import rlhf_sandbox.agents.rlhf
import rlhf_sandbox
== envs/core.py
from rlhf_sandbox.sim import world
def make():
    from rlhf_sandbox.store import db
== agents/teachers/oracle.py
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from rlhf_sandbox.agents.rlhf import loop
try:
    from ..rlhf import loop as again
except ImportError: pass
== agents/policy/ppo.py
from rlhf_sandbox.agents import teachers
== agents/flat.py
== agents/harness/__init__.py
== cli_extra.py
"""


def files(spec: str) -> dict[str, str]:
    chunks = [chunk.partition("\n") for chunk in spec.split("\n== ")[1:]]
    return {name.strip(): text for name, _, text in chunks}


def make_package(root: Path, spec: dict[str, str]) -> Path:
    package_dir = root / "rlhf_sandbox"
    for rel, text in spec.items():
        (package_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (package_dir / rel).write_text(text, encoding="utf-8")
    for folder in [package_dir, *(p for p in package_dir.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return package_dir


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    violations = check_imports(make_package(tmp_path, files(CLEAN) | files(FORBIDDEN)))
    found = {v.split(": ", 1)[0] for v in violations}  # "path:line imports target", or "path"
    assert found == {
        "rlhf_sandbox/sim/world.py:1 imports rlhf_sandbox.agents.rlhf",  # top level
        "rlhf_sandbox/sim/world.py:2 imports rlhf_sandbox",  # the root imports envs
        "rlhf_sandbox/envs/core.py:3 imports rlhf_sandbox.store.db",  # in a function
        "rlhf_sandbox/agents/teachers/oracle.py:3 imports rlhf_sandbox.agents.rlhf.loop",
        "rlhf_sandbox/agents/teachers/oracle.py:5 imports rlhf_sandbox.agents.rlhf.loop",
        "rlhf_sandbox/agents/policy/ppo.py:1 imports rlhf_sandbox.agents.teachers",  # same tier
        "rlhf_sandbox/agents/flat.py",  # agents/ holds only the subpackages
        "rlhf_sandbox/agents/harness/__init__.py",  # not in the tier table
        "rlhf_sandbox/cli_extra.py",  # not a part of the layout
        "agents subpackages import each other in a cycle",
    }, "\n".join(violations)
    assert (
        "rlhf_sandbox/sim/world.py:1 imports rlhf_sandbox.agents.rlhf: sim may import only sim"
        in violations
    )
    assert "agents subpackages import each other in a cycle: policy, rlhf, teachers" in violations
    for allowed in (  # what CLEAN does stays allowed next to the forbidden imports
        "rlhf_sandbox/agents/rlhf/loop.py:1 imports rlhf_sandbox.agents.teachers.oracle",
        "rlhf_sandbox/agents/rlhf/loop.py:2 imports rlhf_sandbox.agents.policy.ppo",
        "rlhf_sandbox/envs/core.py:1 imports rlhf_sandbox.sim.world",
        "rlhf_sandbox/cli/main.py:3 imports rlhf_sandbox.agents.rlhf.loop",
        "rlhf_sandbox/feedback_ui/app.py:2 imports rlhf_sandbox.agents.rlhf.loop",
    ):
        assert allowed not in found


def test_a_package_that_keeps_the_rules_has_no_violations(tmp_path: Path) -> None:
    assert check_imports(make_package(tmp_path, files(CLEAN))) == []
