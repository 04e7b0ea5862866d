"""The one round engine (learning.loop.run_round): an Oracle decides which picks get labels, hooks
add per-round extras; the seeding rule is written once; the playground and the CLI's compare drive the
engine and still give the picks they gave before it existed (values pinned from the code before)."""

import json
from pathlib import Path

import numpy as np
import pytest

from bait_core.learning.loop import (RoundState, SimulatedOracle, initial_labeled, round_seed, run, run_round,
                                     run_rounds, start_state)
from bait_core.learning.data import load_builtin
from bait_core.learning.models import build_model
from bait_core.records.run_record import RunConfig


# --- the seeding rule ------------------------------------------------------------------------------

def _old_initial(has_label, n0, seed):
    """The formula as it was copied in loop.py and playground.py before the engine."""
    rng = np.random.default_rng([seed, 7919])
    mask = np.zeros(has_label.shape[0], dtype=bool)
    mask[rng.choice(np.flatnonzero(has_label), size=n0, replace=False)] = True
    return mask


@pytest.mark.parametrize("seed", [0, 1, 17, 2**31 - 1])
def test_seeding_rule_is_the_old_formulas(seed):
    has = np.ones(200, dtype=bool)
    has[::7] = False                                            # rows without a label are never drawn
    for n0 in (1, 10, 50):
        m = initial_labeled(has, n0, seed)
        np.testing.assert_array_equal(m, _old_initial(has, n0, seed))
        assert m.sum() == n0 and not m[~has].any()
    assert [round_seed(seed, r) for r in (0, 1, 5)] == [seed * 1000, seed * 1000 + 1, seed * 1000 + 5]
    with pytest.raises(ValueError, match="larger than the"):
        initial_labeled(has, int(has.sum()) + 1, seed)


# --- the oracle ----------------------------------------------------------------------------------

class HalfOracle:
    """Answers only the first half of each batch (the rest stay picked but unlabeled)."""

    def __init__(self, y):
        self.y, self.asked = np.asarray(y), []

    def label(self, indices):
        self.asked.append(np.asarray(indices).copy())
        answered = np.arange(len(indices)) < len(indices) // 2
        return self.y[indices], answered


def test_an_oracle_that_labels_half_leaves_the_rest_picked_but_unlabeled(moons, small_config):
    cfg = small_config(strategy="random", rounds=2, batch_size=6)
    oracle = HalfOracle(moons.y)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    rounds = list(run_rounds(moons, model, cfg, oracle=oracle))
    assert len(rounds) == 3 and len(oracle.asked) == 2               # asked once per selection, not in the final round
    r0, r1, r2 = rounds
    np.testing.assert_array_equal(oracle.asked[0], r0.selection.indices)
    assert r0.labeled_before[r0.selection.indices].sum() == 0
    assert r1.labeled_before[r0.selection.indices].all()             # every pick is picked (never picked again) ...
    assert r1.n_labeled == cfg.initial + 3                           # ... but only the answered half is trained on
    assert r2.n_labeled == cfg.initial + 6 and sum(r0.picked_class_counts) == 3
    assert not np.isin(r1.selection.indices, r0.selection.indices).any()
    assert sum(r1.class_counts) == r1.n_labeled
    assert moons.has_label.all()                                     # the dataset itself is not changed

    # the same as rows without a label in the data today: the simulated oracle on such a dataset
    from dataclasses import replace as dc_replace
    y = moons.y.copy()
    y[np.concatenate([idx[len(idx) // 2:] for idx in oracle.asked])] = -1
    holes = dc_replace(moons, y=y)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    same = list(run_rounds(holes, model, cfg, labeled=r0.labeled_before))
    assert [r.n_labeled for r in same] == [r.n_labeled for r in rounds]
    for a, b in zip(same, rounds):
        np.testing.assert_array_equal(a.labeled_before, b.labeled_before)
        assert a.class_counts == b.class_counts and a.picked_class_counts == b.picked_class_counts


def test_an_oracle_gives_the_labels_trained_on(moons, small_config):
    """Labels come from the oracle, not from the dataset: an oracle that answers class 0 for
    everything shows up in the class counts; the dataset's y is unchanged."""
    class Zeros:
        def label(self, idx):
            return np.zeros(len(idx), dtype=moons.y.dtype), np.ones(len(idx), dtype=bool)
    y0 = moons.y.copy()
    cfg = small_config(strategy="random", rounds=1, batch_size=8)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    r0, r1 = list(run_rounds(moons, model, cfg, oracle=Zeros()))
    assert r0.picked_class_counts == [8, 0]
    assert r1.class_counts[0] == r0.class_counts[0] + 8 and r1.class_counts[1] == r0.class_counts[1]
    np.testing.assert_array_equal(moons.y, y0)


# --- hooks -----------------------------------------------------------------------------------------

def test_a_hook_sees_the_round_and_its_output_lands_in_extras_not_in_records(moons, small_config):
    seen = []

    def hook(st: RoundState) -> dict:
        seen.append(st)
        return {"n_unlabeled": int((~st.labeled).sum()), "top": None if st.selection is None
                else int(st.selection.indices[0])}

    cfg = small_config(rounds=1)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    rounds = list(run_rounds(moons, model, cfg, hooks=[hook]))
    assert len(seen) == 2 and [s.round for s in seen] == [0, 1]
    assert seen[0].seed == round_seed(cfg.seed, 0) and seen[1].selection is None
    assert seen[0].pool.embeddings.shape[0] == moons.X.shape[0] and seen[0].batch_size == cfg.batch_size
    np.testing.assert_array_equal(seen[0].labeled, rounds[0].labeled_before)
    assert rounds[0].extras == {"n_unlabeled": int((~rounds[0].labeled_before).sum()),
                                "top": int(rounds[0].selection.indices[0])}
    assert rounds[1].extras["top"] is None
    from bait_core.records.run_record import new_record
    rec = new_record(cfg, moons, model)
    rec.rounds.extend(rounds)
    assert "n_unlabeled" not in rec.to_json() and "extras" not in rec.to_json()


def test_a_round_stopped_after_training_leaves_the_state_unchanged(moons, small_config):
    cfg = small_config(rounds=1)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    state = start_state(moons, model, cfg)
    before = state.mask.copy()
    assert run_round(state, 0, final=False, should_stop=lambda: True) is None
    np.testing.assert_array_equal(state.mask, before)
    res = run_round(state, 0, final=False)
    assert state.mask.sum() == before.sum() + cfg.batch_size and state.mask[res.selection.indices].all()


def test_simulated_oracle_answers_rows_with_labels():
    o = SimulatedOracle(y=np.array([3, 1, 2, -1]), has_label=np.array([True, True, True, False]))
    labels, answered = o.label(np.array([3, 0]))
    assert labels.tolist() == [-1, 3] and answered.tolist() == [False, True]


# --- pinned: the same picks as before the engine -------------------------------------------------

def test_playground_rounds_are_the_ones_before_the_engine():
    """blobs, 3 classes, seed 3, compared with entropy, 3 rounds, then switched to BADGE (pinned values
    computed with Playground.step's own copy of the round before it drove run_round)."""
    from bait_core.learning.playground import Playground
    pg = Playground.start(toy="blobs", n_classes=3, seed=3, compare_with="entropy")
    assert np.flatnonzero(pg.mask).tolist() == [44, 79, 92, 97, 125, 163, 237, 245, 284, 299]
    rounds = [pg.step() for _ in range(3)]
    assert [r.bait.indices.tolist() for r in rounds] == [[264, 269, 179, 164, 111], [296, 126, 226, 105, 16],
                                                        [69, 86, 148, 291, 277]]
    assert [r.other.indices.tolist() for r in rounds] == [[260, 244, 154, 93, 83], [244, 260, 132, 93, 137],
                                                         [244, 260, 132, 93, 154]]
    assert [r.accuracy for r in rounds] == pytest.approx([0.98, 0.99, 1.0])
    assert [r.train_epochs for r in rounds] == [55, 54, 56]
    assert rounds[0].grid_probs.shape == (80, 80, 3) and rounds[0].bait.step_scores is not None
    assert set(rounds[0].times) == {"train", "outputs", "bait", "entropy", "total"}
    pg.set_compare("badge")
    assert [r.other.indices.tolist() for r in pg.rounds] == [[105, 133, 91, 119, 71], [105, 271, 252, 228, 211],
                                                            [59, 40, 146, 187, 132]]


def test_cli_compare_writes_the_same_files_and_picks(tmp_path, capsys):
    """The CLI's compare now drives run_comparison: the same files, messages and picks as before
    (picks, metrics and initial sets pinned from the CLI's own loop before)."""
    from bait_core.__main__ import main
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "builtin:moons", "--rounds", "2", "--batch-size", "5", "--initial", "10",
                 "--seeds", "2", "--strategies", "bait,entropy", "--out", str(out), "--device", "cpu"]) == 0
    cap = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["bait_seed0.json", "bait_seed1.json", "entropy_seed0.json", "entropy_seed1.json", "comparison.json",
         "summary.csv", "curves.html"])
    assert "learning-curve AUC" in cap.out and f"curves.html in {out}" in cap.out
    bait0 = json.loads((out / "bait_seed0.json").read_text())
    assert [r["selection"]["indices"] for r in bait0["rounds"] if r["selection"]] == [
        [203, 174, 326, 384, 387], [322, 126, 347, 442, 431]]
    assert [r["metric"] for r in bait0["rounds"]] == pytest.approx([0.8066666666666666, 0.84, 0.8666666666666667])
    assert bait0["rounds"][0]["labeled_before"] == [40, 53, 129, 185, 231, 316, 328, 354, 409, 441]
    ent1 = json.loads((out / "entropy_seed1.json").read_text())
    assert [r["selection"]["indices"] for r in ent1["rounds"] if r["selection"]] == [
        [41, 196, 113, 7, 31], [117, 290, 109, 333, 46]]
    assert ent1["rounds"][0]["labeled_before"] == [16, 79, 125, 208, 210, 251, 263, 395, 400, 444]
    comp = json.loads((out / "comparison.json").read_text())
    assert [(r["config"]["strategy"], r["config"]["seed"]) for r in comp["records"]] == [
        ("bait", 0), ("entropy", 0), ("bait", 1), ("entropy", 1)]
    assert (out / "summary.csv").read_text().splitlines()[0] == "strategy,runs,auc_mean,auc_std,final_mean"


def test_run_builds_through_the_builder_and_matches_run_rounds(moons, small_config):
    cfg = small_config(rounds=1)
    rec = run(cfg, dataset=moons)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=cfg.seed)
    direct = list(run_rounds(moons, model, cfg))
    assert [r.selection.indices.tolist() for r in rec.rounds if r.selection] == [
        r.selection.indices.tolist() for r in direct if r.selection]


@pytest.mark.parametrize("answer, needle", [
    (lambda idx: (np.zeros(len(idx) + 1, np.int64), np.ones(len(idx), bool)), "one of each per point"),
    (lambda idx: (np.full(len(idx), 99), np.ones(len(idx), bool)), "not a class index"),
    (lambda idx: (np.full(len(idx), -2), np.ones(len(idx), bool)), "not a class index"),
    (lambda idx: (np.full(len(idx), 0.5), np.ones(len(idx), bool)), "not a class index"),
    (lambda idx: (np.zeros(len(idx), np.int64), np.ones(len(idx), np.int64)), "booleans"),
    (lambda idx: np.zeros(len(idx)), "must answer"),
])
def test_a_wrong_oracle_answer_is_a_sentence_and_reveals_nothing(answer, needle):
    """An oracle's answer is checked before anything is revealed: wrong shapes, labels outside
    0..K−1, non-integer classes or non-boolean flags raise a ValueError naming the problem, and the
    run's state (mask, known labels) is unchanged."""
    from bait_core.learning.loop import run_round, start_state

    class Bad:
        def label(self, idx):
            return answer(idx)

    ds = load_builtin("blobs", seed=0, n_points=120, n_classes=3)
    cfg = RunConfig(data="builtin:blobs", model="mlp", strategy="random", rounds=1, batch_size=4, initial=6)
    model = build_model("mlp", ds.input_shape, 3, seed=0)
    state = start_state(ds, model, cfg)
    before = (state.mask.copy(), state.known.copy(), state.y.copy())
    with pytest.raises(ValueError, match=needle):
        run_round(state, 0, final=False, oracle=Bad())
    assert np.array_equal(state.mask, before[0]) and np.array_equal(state.known, before[1])
    assert np.array_equal(state.y, before[2])


def test_an_oracle_may_answer_whole_floats_and_skip_points():
    """Labels 2.0 are class 2; unanswered points get no label (their value is ignored, even NaN)."""
    from bait_core.learning.loop import run_round, start_state

    class Floats:
        def label(self, idx):
            lab = np.full(len(idx), 2.0)
            lab[0] = np.nan
            ans = np.ones(len(idx), bool)
            ans[0] = False
            return lab, ans

    ds = load_builtin("blobs", seed=0, n_points=120, n_classes=3)
    cfg = RunConfig(data="builtin:blobs", model="mlp", strategy="random", rounds=1, batch_size=4, initial=6)
    state = start_state(ds, build_model("mlp", ds.input_shape, 3, seed=0), cfg)
    res = run_round(state, 0, final=False, oracle=Floats())
    idx = res.selection.indices
    assert res.picked_class_counts == [0, 0, 3]
    assert state.mask[idx].all() and not state.known[idx[0]] and state.known[idx[1:]].all()
    assert (state.y[idx[1:]] == 2).all()


def _blobs_run(**cfg):
    ds = load_builtin("blobs", seed=0, n_points=120, n_classes=3)
    config = RunConfig(**{**dict(data="builtin:blobs", model="mlp", strategy="random", rounds=1, batch_size=4,
                                 initial=6), **cfg})
    return ds, build_model("mlp", ds.input_shape, 3, seed=0), config


@pytest.mark.parametrize("labeled, needle", [
    (lambda N: np.array(["False"] * N), "boolean mask"),
    (lambda N: np.full(N, np.nan), "boolean mask"),
    (lambda N: np.zeros(N - 1, bool), r"shape \("),
    (lambda N: np.zeros((N, 1), bool), r"shape \("),
])
def test_run_rounds_refuses_a_labeled_mask_that_is_not_one_bool_per_point(labeled, needle):
    """A string or NaN array must not silently become 'all labeled'; a wrong shape is a sentence."""
    ds, model, cfg = _blobs_run()
    with pytest.raises(ValueError, match=needle):
        next(run_rounds(ds, model, cfg, labeled=labeled(ds.X.shape[0])))


@pytest.mark.parametrize("start", [-2, 1.5, 5, True])
def test_run_rounds_refuses_a_start_round_outside_the_run(start):
    ds, model, cfg = _blobs_run(rounds=3)
    with pytest.raises(ValueError, match="start_round"):
        next(run_rounds(ds, model, cfg, start_round=start))


def test_select_options_may_not_override_the_config_or_the_seeding_rule():
    ds, model, cfg = _blobs_run(strategy="bait")
    state = start_state(ds, model, cfg)
    for bad in ({"lamb": 5.0}, {"seed": 3}):
        with pytest.raises(ValueError, match="select_options may not set"):
            run_round(state, 0, final=False, select_options=bad)


def test_a_hook_must_return_a_dict():
    ds, model, cfg = _blobs_run()
    state = start_state(ds, model, cfg)
    mask = state.mask.copy()
    with pytest.raises(ValueError, match="must return a dict"):
        run_round(state, 0, final=False, hooks=[lambda view: None])
    assert np.array_equal(state.mask, mask)


@pytest.mark.parametrize("labels", [["a"] * 4, None])
def test_an_oracle_that_answers_nothing_may_give_any_placeholder(labels):
    """Nothing answered: the labels' values do not matter (no IndexError on an empty answer)."""
    ds, model, cfg = _blobs_run()

    class Silent:
        def label(self, idx):
            return (np.array(labels if labels is not None else [None] * len(idx), dtype=object),
                    np.zeros(len(idx), bool))

    state = start_state(ds, model, cfg)
    res = run_round(state, 0, final=False, oracle=Silent())
    assert res.picked_class_counts == [0, 0, 0] and state.mask[res.selection.indices].all()
    assert not state.known[res.selection.indices].any()


def test_build_run_refuses_a_missing_model_file_and_a_text_memory_limit(tmp_path):
    from bait_core.learning.build import build_run

    cfg = RunConfig(data="builtin:blobs", model="mlp", strategy="random", rounds=1, batch_size=4, initial=6)
    for path in (tmp_path / "nope.pt2", tmp_path):
        with pytest.raises(ValueError, match="does not exist or is not a file"):
            build_run(cfg, model_file=path)
    with pytest.raises(ValueError, match="memory_limit must be"):
        build_run(cfg, memory_limit="8G")


def test_seeds_stay_where_every_generator_takes_them():
    from bait_core.records.run_record import MAX_SEED
    RunConfig(seed=MAX_SEED).validate()
    with pytest.raises(ValueError, match="seed must be a whole number from 0 to 4,000,000"):
        RunConfig(seed=MAX_SEED + 1).validate()
    assert round_seed(MAX_SEED, 999) < 2**32
