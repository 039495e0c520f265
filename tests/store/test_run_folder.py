"""The run folder has one owner: its file names are spelt only in ``store/run_folder.py``,
and names read back from a store or a file are checked before they become paths."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import rlhf_sandbox
from rlhf_sandbox.store.run_folder import RunFolder

PACKAGE = Path(rlhf_sandbox.__file__).parent
OWNER = PACKAGE / "store" / "run_folder.py"
NAMES = ("settings.json", "checkpoint", "reward_models", "prefs.sqlite", "store.json", "loop.json")
# "reward_models" is also the name of a table of the store: its SQL and the code that
# reads rows by table name spell it as a table, not as a folder.
TABLE_USERS = {"schema.py", "db.py", "db_io.py", "verify.py"}
PATTERN = re.compile(r"(?:^|(?<=/))(" + "|".join(re.escape(n) for n in NAMES) + r")(?=/|$)")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are not docstrings, with their lines."""
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            docs.add(id(first.value))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def literal_uses(package: Path) -> list[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        if path == OWNER:
            continue
        for line, text in _strings(ast.parse(path.read_text())):
            for m in PATTERN.finditer(text):
                name = m.group(1)
                if name == "reward_models" and path.name in TABLE_USERS and text == name:
                    continue
                if name == "reward_models" and path.name in TABLE_USERS and " " in text:
                    continue  # SQL
                out.append(f"{path.relative_to(package)}:{line} spells {name!r}")
    return out


def test_run_folder_names_are_spelt_only_by_the_run_folder() -> None:
    found = literal_uses(PACKAGE)
    assert not found, "\n".join(found)


def test_the_check_catches_a_spelt_name(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text('"""settings.json in a docstring is fine."""\nP = "settings.json"\n')
    (pkg / "b.py").write_text('def f(x):\n    return f"{x}/checkpoint/loop.json"\n')
    (pkg / "c.py").write_text('MSG = "no checkpoint to resume from"\n')  # words, not a path
    assert literal_uses(pkg) == [
        "a.py:2 spells 'settings.json'",
        "b.py:2 spells 'checkpoint'",
        "b.py:2 spells 'loop.json'",
    ]


def test_names_read_back_are_data_not_paths(tmp_path: Path) -> None:
    f = RunFolder(tmp_path / "run")
    path, name = f.reward_model_version(3)
    assert f.reward_model_file(name) == path == tmp_path / "run" / name
    for bad in ("../../x.pt", "/etc/passwd", "reward_models/../v1.pt", "reward_models/v0.pt"):
        with pytest.raises(ValueError, match="not opened"):
            f.reward_model_file(bad)
    assert f.checkpoint_file("policy", "000012").name == "policy-000012.pt"
    for tag in ("../../x", "12", "", "00001a"):
        with pytest.raises(ValueError, match="not one of ours"):
            f.checkpoint_file("policy", tag)
