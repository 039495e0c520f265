"""Queries from clips already stored, without a trainer (``rlhf-sandbox queue``).

Clips are chosen by *group*: a clip group is the run name of the clip rows (``ClipRow.run``:
``main`` for a training run's own clips, ``play`` for what people played, ``policy`` and
``baseline`` for an evaluation's episodes, or any name a tool stores clips under). A group
may also be another run folder (``runs/OTHER``, ``reports/NAME``, or a ``store/`` folder),
optionally narrowed to one of its groups (``reports/NAME:baseline``): its clips are copied
into this store once (:func:`import_group`, after the pairs are made), under the group name
as given, with their ids kept.

Three ways to pair clips, each query's sides placed at random:

* ``head_to_head(a, b)``: a clip of group a against one of group b, the same episode
  start (env, seed, start step) first where both have it, whatever their lengths (one
  policy may crash sooner: that is what people judge); else clips of the same env and
  length; method ``head_to_head``.
* ``among(groups)``: random disjoint pairs among the groups' clips (the worst episodes of
  an evaluation, say); method ``clips``.
* ``demos_vs_policy``: each correction against the clip it replaces, each demonstration
  against a policy clip of the run; method ``demo_vs_policy``.

:func:`enqueue` then adds the queries with ``raters_wanted`` and, after them, a share of
repeats (the same pair, sides swapped; method ``<method>/repeat``) for self-consistency.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import ClipRow, NewQuery, PreferenceDB
from rlhf_sandbox.store.run_folder import store_db, store_root

HEAD_TO_HEAD = "head_to_head"
REPEAT = "/repeat"


@dataclass(frozen=True)
class Pair:
    left: str
    right: str
    method: str


def _other_store(store: ClipStore, sel: str) -> tuple[Path, str | None] | None:
    """The root of another store that ``sel`` names, and the group it narrows to
    (``FOLDER:GROUP``); None: ``sel`` is a group name of this store."""
    folder, _, group = sel.rpartition(":") if ":" in sel else (sel, "", "")
    root = store_root(folder)
    if root is None:
        return None
    same = store.root is not None and root.resolve() == store.root.resolve()
    return None if same else (root, group or None)


def _rows_of(other: tuple[Path, str | None]) -> list[ClipRow]:
    root, group = other
    with PreferenceDB(store_db(root)) as src:
        return [src.get_clip(cid) for cid in src.clip_ids(group)]


def resolve_group(store: ClipStore, sel: str) -> list[ClipRow]:
    """The clip rows of a group name, or of another store (read there: nothing is copied
    until :func:`import_group`, so a queue that fails leaves this store as it was)."""
    db = store.db
    other = _other_store(store, sel)
    if other is not None:
        rows = _rows_of(other)
        if not rows and other[1] is not None:
            with PreferenceDB(store_db(other[0])) as src:
                names = sorted({src.get_clip(c).run for c in src.clip_ids()})
            raise ValueError(
                f"no clips in group {other[1]!r} of {other[0]}; its groups: "
                + (", ".join(names) or "none")
            )
    else:
        rows = [db.get_clip(cid) for cid in db.clip_ids(sel)]
    if not rows:
        groups = ", ".join(sorted({db.get_clip(c).run for c in db.clip_ids()})) or "none"
        raise ValueError(f"no clips in group {sel!r}; clip groups in this store: {groups}")
    return rows


def import_group(store: ClipStore, sel: str) -> int:
    """Copy the clips of another store named by ``sel`` into ``store`` (once, ids kept,
    clip run ``sel``); returns how many were new (0 for a group of this store)."""
    other = _other_store(store, sel)
    if other is None:
        return 0
    root, group = other
    src = ClipStore(root, PreferenceDB(store_db(root)))
    try:
        have = set(store.db.clip_ids())
        new = [src.get(cid) for cid in src.ids(group) if cid not in have]
        store.add([dataclasses.replace(c, run=sel) for c in new])
    finally:
        src.db.close()
    return len(new)


def _kind(r: ClipRow) -> tuple[str, int]:
    return (r.env_id, r.T)


def _place(rng: np.random.Generator, a: str, b: str, method: str) -> Pair:
    return Pair(a, b, method) if rng.random() < 0.5 else Pair(b, a, method)


def head_to_head(
    a: list[ClipRow], b: list[ClipRow], rng: np.random.Generator, n: int | None = None
) -> list[Pair]:
    """Pairs of a clip of ``a`` and one of ``b``: the same episode start (any lengths)
    where both groups have it, else one of the same env and length drawn at random (B
    cycled)."""
    by_start = {(r.env_id, r.seed, r.start_step): r for r in b}
    pairs: list[Pair] = []
    used: set[str] = set()
    rest: list[ClipRow] = []
    for r in a:
        m = by_start.get((r.env_id, r.seed, r.start_step))
        if m is not None and m.id not in used:
            used.add(m.id)
            pairs.append(_place(rng, r.id, m.id, HEAD_TO_HEAD))
        else:
            rest.append(r)
    pool: dict[tuple[str, int], list[ClipRow]] = defaultdict(list)
    for r in b:
        if r.id not in used:
            pool[_kind(r)].append(r)
    for k in pool:
        pool[k] = [pool[k][i] for i in rng.permutation(len(pool[k]))]
    turn: dict[tuple[str, int], int] = defaultdict(int)
    for r in rest:
        cands = pool.get(_kind(r))
        if not cands:
            continue
        m = cands[turn[_kind(r)] % len(cands)]
        turn[_kind(r)] += 1
        pairs.append(_place(rng, r.id, m.id, HEAD_TO_HEAD))
    order = rng.permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    return pairs[:n] if n is not None else pairs


def among(rows: list[ClipRow], rng: np.random.Generator, n: int | None = None) -> list[Pair]:
    """Disjoint random pairs of clips of the same env and length."""
    pool: dict[tuple[str, int], list[ClipRow]] = defaultdict(list)
    for r in rows:
        pool[_kind(r)].append(r)
    pairs = []
    for group in pool.values():
        idx = rng.permutation(len(group))
        for i in range(0, len(idx) - 1, 2):
            pairs.append(_place(rng, group[idx[i]].id, group[idx[i + 1]].id, "clips"))
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    return pairs[:n] if n is not None else pairs


def demos_vs_policy(
    db: PreferenceDB, run: str, rng: np.random.Generator, n: int | None = None
) -> list[Pair]:
    """Corrections against the clips they replace; demonstrations against policy clips
    of ``run`` (clips no demonstration row names) of the same env and length."""
    demos = db.demonstrations(run)
    named = {d.clip for d in demos} | {d.replaces for d in demos if d.replaces}
    policy = [db.get_clip(c) for c in db.clip_ids(run) if c not in named]
    pool: dict[tuple[str, int], list[ClipRow]] = defaultdict(list)
    for r in policy:
        pool[_kind(r)].append(r)
    pairs = []
    for d in demos:
        if d.replaces is not None:
            pairs.append(_place(rng, d.clip, d.replaces, "demo_vs_policy"))
            continue
        cands = pool.get(_kind(db.get_clip(d.clip)))
        if cands:
            pairs.append(
                _place(rng, d.clip, cands[int(rng.integers(len(cands)))].id, "demo_vs_policy")
            )
    if not pairs:
        raise ValueError(f"no demonstration of run {run!r} has a policy clip to be compared with")
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    return pairs[:n] if n is not None else pairs


def with_repeats(pairs: list[Pair], share: float, rng: np.random.Generator) -> list[Pair]:
    """``pairs`` then ``round(share * len(pairs))`` of them again, sides swapped."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"--repeat-share must be in [0, 1], got {share}")
    k = round(share * len(pairs))
    again = [pairs[i] for i in sorted(rng.choice(len(pairs), size=k, replace=False))]
    return pairs + [Pair(p.right, p.left, p.method + REPEAT) for p in again]


def enqueue(db: PreferenceDB, run: str, pairs: list[Pair], raters_wanted: int) -> list[str]:
    """Add the pairs as queries of ``run``; returns their ids."""
    if raters_wanted < 1:
        raise ValueError(f"--raters-per-query must be >= 1, got {raters_wanted}")
    return db.add_queries(run, [NewQuery(p.left, p.right, p.method) for p in pairs], raters_wanted)


def is_head_to_head(method: str) -> bool:
    return method.split("/")[0] in (HEAD_TO_HEAD, "demo_vs_policy")
