"""``queue`` and ``raters`` from the command line, on a store of synthetic clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import Clip, ClipStore
from rlhf_sandbox.store.db import PreferenceDB

runner = CliRunner()


def clips(run: str, seeds: list[int], t: int = 4) -> list[Clip]:
    rng = np.random.default_rng(len(run))
    return [
        Clip(
            run=run,
            env_id="Tiny-v0",
            config={},
            seed=s,
            slot=0,
            start_step=0,
            fps=5.0,
            policy_hz=5.0,
            obs=rng.normal(size=(t, 3)).astype(np.float32),
            actions=np.zeros(t, np.int64),
            rewards=np.zeros(t, np.float32),
        )
        for s in seeds
    ]


def make_run(root: Path) -> tuple[Path, dict[str, str]]:
    run = root / "run"
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        store = ClipStore(run / "store", db)
        a = store.add(clips("policyA", [0, 1, 2, 3, 4, 5]))
        b = store.add(clips("policyB", [0, 1, 2, 3, 10, 11]))
    return run, {**dict.fromkeys(a, "policyA"), **dict.fromkeys(b, "policyB")}


def test_queue_head_to_head_with_repeats_then_raters(tmp_path: Path) -> None:
    run, group = make_run(tmp_path)
    args = ["queue", "--run", str(run), "--policies", "policyA", "policyB"]
    res = runner.invoke(app, [*args, "--raters-per-query", "3", "--repeat-share", "0.5"])
    assert res.exit_code == 0, res.output
    assert "9 queries (6 pairs + 3 repeats, 3 rater(s) each)" in res.output
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        qs = db.queries("main")
        assert len(qs) == 9 and {x.raters_wanted for x in qs} == {3}
        first, repeats = qs[:6], qs[6:]
        assert {x.method for x in first} == {"head_to_head"}
        assert {x.method for x in repeats} == {"head_to_head/repeat"}
        for x in qs:  # one clip of each policy per query
            assert {group[x.left_clip], group[x.right_clip]} == {"policyA", "policyB"}
        pairs = {(x.left_clip, x.right_clip) for x in first}
        assert all((x.right_clip, x.left_clip) in pairs for x in repeats)  # sides swapped
        seeds = sorted(
            db.get_clip(x.left_clip).seed
            for x in first
            if db.get_clip(x.left_clip).seed == db.get_clip(x.right_clip).seed
        )
        assert seeds == [0, 1, 2, 3]  # the same episodes are matched first
        for x in qs:  # "lefty" always picks the left clip; "fair" always picks policy A
            db.add_label(x.id, "lefty", "left")
            a_left = group[x.left_clip] == "policyA"
            db.add_label(x.id, "fair", "left" if a_left else "right")
    res = runner.invoke(app, ["raters", "--run", str(run), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    r = {x["rater"]: x for x in rep["raters"]}
    assert r["lefty"]["left_share"] == 1.0 and r["fair"]["self_consistency"] == 1.0
    assert r["fair"]["repeats"] == 3 and r["lefty"]["self_consistency"] == 0.0
    assert not r["fair"]["position_biased"]
    wins = {w["group"]: w for w in rep["win_rates"]}
    assert wins["policyA"]["wins"] + wins["policyA"]["losses"] == 18
    assert wins["policyA"]["rate"] > 0.5 > wins["policyB"]["rate"]
    lo, hi = wins["policyA"]["interval"]
    assert 0 < lo < wins["policyA"]["rate"] < hi <= 1
    res = runner.invoke(app, ["raters", "--run", str(run)])
    assert res.exit_code == 0 and "win rates" in res.output and "kappa" in res.output


def test_queue_from_another_run_folder_and_clip_groups(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path)
    other = tmp_path / "other"
    with PreferenceDB(other / "store" / "prefs.sqlite") as db:
        ClipStore(other / "store", db).add(clips("main", [0, 1, 2]))
    res = runner.invoke(
        app,
        ["queue", "--run", str(run), "--policies", str(other), "policyA", "--repeat-share", "0"],
    )
    assert res.exit_code == 0, res.output
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        assert len(db.clip_ids(str(other))) == 3  # copied in under the folder's name
        assert len(db.queries()) == 3
    res = runner.invoke(app, ["queue", "--run", str(run), "--clips", "policyB", "--pairs", "2"])
    assert res.exit_code == 0, res.output
    assert "2 queries (2 pairs + 0 repeats" in res.output


def test_queue_and_raters_bad_input(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path)
    cases = [
        (["queue", "--run", str(tmp_path / "nope"), "--demos"], "no store in"),
        (["queue", "--run", str(run)], "exactly one of"),
        (["queue", "--run", str(run), "--clips", "ghost"], "no clips in group 'ghost'"),
        (["queue", "--run", str(run), "--demos"], "no demonstration"),
        (["queue", "--run", str(run), "--clips", "policyA", "--repeat-share", "2"], "[0, 1]"),
        (["raters", "--run", str(tmp_path / "nope")], "no such run folder"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "Error:" in res.output and message in res.output, res.output


def test_queue_that_fails_copies_nothing_in(tmp_path: Path) -> None:
    """Another store's clips used to be copied into the run before the pairing failed, so
    a failed queue left a new clip group behind."""
    run, _ = make_run(tmp_path)
    other = tmp_path / "other"
    with PreferenceDB(other / "store" / "prefs.sqlite") as db:
        # neither the same episodes (seeds) nor the same length (7) as any clip here
        ClipStore(other / "store", db).add(clips("main", [50, 51], t=7))
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        before = sorted(db.clip_ids())
    res = runner.invoke(app, ["queue", "--run", str(run), "--policies", str(other), "policyA"])
    assert res.exit_code == 2 and "no pair of clips" in res.stderr, res.output
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        assert sorted(db.clip_ids()) == before and db.queries() == []


def test_queue_policies_must_be_two_groups(tmp_path: Path) -> None:
    """--policies A A used to pair every clip of A with itself."""
    run, _ = make_run(tmp_path)
    res = runner.invoke(app, ["queue", "--run", str(run), "--policies", "policyA", "policyA"])
    assert res.exit_code == 2 and "two different clip groups" in res.stderr, res.output
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        assert db.queries() == []


def test_queue_judges_two_reports_in_a_new_folder(tmp_path: Path) -> None:
    """Without a trainer: a new judging folder gets a store; FOLDER:GROUP picks one group of
    an evaluation report; the same episodes are paired even where one ended sooner."""
    report = tmp_path / "report"  # like `evaluate --baseline`: two groups in one store
    with PreferenceDB(report / "store" / "prefs.sqlite") as db:
        store = ClipStore(report / "store", db)
        store.add(clips("policy", [0, 1, 2], t=4))  # crashed early
        store.add(clips("baseline", [0, 1, 2], t=9))  # drove the whole episode
    judge = tmp_path / "judge"
    args = ["queue", "--run", str(judge), "--repeat-share", "0"]
    res = runner.invoke(app, [*args, "--policies", f"{report}:policy", f"{report}:baseline"])
    assert res.exit_code == 0, res.output
    with PreferenceDB(judge / "store" / "prefs.sqlite") as db:
        qs = db.queries()
        assert len(qs) == 3
        for q in qs:
            a, b = db.get_clip(q.left_clip), db.get_clip(q.right_clip)
            assert a.seed == b.seed and {a.T, b.T} == {4, 9}
            assert {a.run, b.run} == {f"{report}:policy", f"{report}:baseline"}
    res = runner.invoke(app, [*args, "--policies", f"{report}:policy", f"{report}:ghost"])
    assert res.exit_code == 2 and "no clips in group 'ghost'" in res.stderr
    assert "its groups: baseline, policy" in res.stderr
    fresh = tmp_path / "judge2"  # a failed queue into a new folder leaves no folder behind
    res = runner.invoke(
        app, ["queue", "--run", str(fresh), "--policies", f"{report}:policy", "ghost"]
    )
    assert res.exit_code == 2 and not fresh.exists(), res.output


def test_queue_sets_the_question_and_rubric(tmp_path: Path) -> None:
    """`queue --question TEXT --rubric FILE`: stored with the run, read by `label`; a bad
    rubric file is one Error line, exit 2, before anything is written."""
    run, _ = make_run(tmp_path)
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("\ufeffSafe beats fast.\r\nA crash is always worse.\n", encoding="utf-8")
    args = ["queue", "--run", str(run), "--clips", "policyA", "--pairs", "2"]
    res = runner.invoke(
        app, [*args, "--question", "Which car drives more safely?", "--rubric", str(rubric)]
    )
    assert res.exit_code == 0, res.output
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        task = db.run_question("main")
        assert task is not None
        assert task.question == "Which car drives more safely?"
        assert task.rubric == "Safe beats fast.\nA crash is always worse."
    res = runner.invoke(app, ["queue", "--run", str(run), "--question", "Which is calmer?"])
    assert res.exit_code == 0, res.output  # the question alone: the rubric stays
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        task = db.run_question("main")
        assert task is not None and task.question == "Which is calmer?"
        assert task.rubric.startswith("Safe beats fast.")
        n_queries = len(db.queries())
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Sécurité".encode("latin-1"))
    cases = [
        (str(tmp_path / "missing.txt"), "not found"),
        (str(latin1), "not UTF-8"),
        (str(tmp_path), "is a folder"),
    ]
    for path, message in cases:
        res = runner.invoke(app, [*args, "--question", "Q?", "--rubric", path])
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
    res = runner.invoke(app, [*args, "--question", "two\nlines"])
    assert res.exit_code == 2 and "one line" in res.stderr
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        assert len(db.queries()) == n_queries  # nothing queued by the refused calls
        task = db.run_question("main")
        assert task is not None and task.question == "Which is calmer?"
