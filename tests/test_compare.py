"""Comparisons: running strategy × seed, the penalty matrix (paired t-tests), persistence."""

import json

import numpy as np
import pytest
from scipy import stats

from bait_core.learning.compare import (ComparePlan, Comparison, _paired_t_pvalue, curves, first_round_picks,
                               penalty_matrix, run_comparison, timing_table)
from bait_core.records.run_record import RoundResult, RunConfig, RunRecord
from bait_core.learning.models import build_model


def _rec(strategy, seed, metrics, metric_name="accuracy", fingerprint="f0"):
    """A record with the given metric per round (selection-free rounds: enough for the analysis)."""
    rounds = [RoundResult(round=r, labeled_before=np.zeros(4, bool), n_labeled=10 + 5 * r, metric=float(m),
                          metric_name=metric_name, predictions=np.zeros(4, np.int64), confidence=None,
                          class_counts=[], picked_class_counts=[], selection=None,
                          times={"train": 0.1, "outputs": 0.01, "select": 0.2 if strategy == "bait" else 0.0},
                          train_epochs=1, train_accuracy=None, device="CPU")
              for r, m in enumerate(metrics)]
    return RunRecord(config=RunConfig(strategy=strategy, seed=seed),
                     dataset={"name": "toy", "source": "builtin:toy", "fingerprint": fingerprint, "task":
                              "regression" if metric_name == "rmse" else "classification", "n_points": 4},
                     model={"name": "mlp"}, rounds=rounds)


def _three_way(metric_name="accuracy", names=("A", "B", "C")):
    """A beats B at every checkpoint by 0.1 (± noise); C equals B exactly; round 0 identical.
    names: the strategy names of A, B, C (a saved file needs known strategy names)."""
    A, B, C = names
    rng = np.random.default_rng(0)
    recs = []
    for seed in range(5):
        base = np.array([0.5, 0.6, 0.7, 0.75]) + rng.normal(0, 0.02, 4)
        base[0] = 0.5
        better = base + np.r_[0, 0.1 + rng.normal(0, 0.01, 3)]
        if metric_name == "rmse":
            better = base - np.r_[0, 0.1 + rng.normal(0, 0.01, 3)]
        recs += [_rec(A, seed, better, metric_name), _rec(B, seed, base, metric_name),
                 _rec(C, seed, base, metric_name)]
    return Comparison.from_records(recs)


@pytest.mark.parametrize("metric_name", ["accuracy", "rmse"])
def test_penalty_matrix_counts_significant_wins(metric_name):
    pm = penalty_matrix(_three_way(metric_name))
    assert pm.strategies == ["A", "B", "C"] and pm.n_checkpoints == 3 and pm.n_seeds == 5
    P = dict(zip(pm.strategies, pm.matrix))
    np.testing.assert_allclose(P["A"], [0, 1, 1])          # A beats B and C at every checkpoint
    np.testing.assert_allclose(P["B"], [0, 0, 0])          # B = C exactly: no test is significant
    np.testing.assert_allclose(P["C"], [0, 0, 0])
    np.testing.assert_allclose(pm.column_means, [0, 0.5, 0.5])


def test_penalty_matrix_ignores_noise_and_needs_two_seeds():
    rng = np.random.default_rng(1)
    recs = [_rec(s, seed, 0.7 + rng.normal(0, 0.05, 4)) for seed in range(4) for s in ("A", "B")]
    pm = penalty_matrix(Comparison.from_records(recs))
    assert pm.matrix.max() <= 1 / 3 + 1e-12                 # at most one lucky checkpoint
    one_seed = penalty_matrix(Comparison.from_records([_rec("A", 0, [0.5, 0.9]), _rec("B", 0, [0.5, 0.1])]))
    assert one_seed.matrix.sum() == 0 and one_seed.n_seeds == 1


def test_paired_t_pvalue_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=6), rng.normal(size=6) + 0.3
    assert _paired_t_pvalue(a - b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    assert np.isnan(_paired_t_pvalue(np.zeros(3)))
    assert _paired_t_pvalue(np.full(3, 0.25)) == 0.0 and _paired_t_pvalue(np.full(3, 0.1)) < 1e-20


def test_curves_timing_and_round_trip():
    names = ("bait", "random", "entropy")
    comp = _three_way(names=names)
    comp.plan = ComparePlan(base=RunConfig(), strategies=names, seeds=tuple(range(5)))
    c = curves(comp)
    assert set(c) == set(names) and c["bait"].shape == (5, 4)
    rows = {r["strategy"]: r for r in timing_table(comp)}
    assert rows["bait"]["train_s"] == pytest.approx(0.1) and rows["bait"]["device"] == "CPU"
    back = Comparison.from_json(comp.to_json())
    assert back.strategies == list(names) and back.plan == comp.plan
    np.testing.assert_allclose(penalty_matrix(back).matrix, penalty_matrix(comp).matrix)


def test_bad_files_and_mixed_records_are_value_errors():
    with pytest.raises(ValueError, match="not valid JSON"):
        Comparison.from_json(b"{nope")
    with pytest.raises(ValueError, match="neither"):
        Comparison.from_json(json.dumps({"kind": "other"}))
    with pytest.raises(ValueError, match="newer"):
        Comparison.from_json(json.dumps({"kind": "bait-explorer-comparison", "schema_version": 99, "records": []}))
    other = _rec("B", 0, [0.5], fingerprint="z")
    other.dataset["source"] = "file.csv"
    with pytest.raises(ValueError, match="different datasets"):
        Comparison.from_records([_rec("A", 0, [0.5]), other])
    with pytest.raises(ValueError, match="More than one record"):
        Comparison.from_records([_rec("A", 0, [0.5]), _rec("A", 0, [0.6])])
    single = Comparison.from_json(_rec("margin", 3, [0.5, 0.6]).to_json())
    assert single.strategies == ["margin"] and single.seeds == [3]


def test_plan_validation():
    ok = ComparePlan(base=RunConfig(data="builtin:moons"), strategies=("bait", "random"), seeds=(0, 1))
    ok.validate("classification", 300)
    assert [(c.strategy, c.seed) for c in ok.runs()] == [("bait", 0), ("random", 0), ("bait", 1), ("random", 1)]
    for plan, needle in [(ComparePlan(RunConfig(), (), (0,)), "at least one strategy"),
                         (ComparePlan(RunConfig(), ("nope",), (0,)), "Unknown strategy"),
                         (ComparePlan(RunConfig(), ("bait", "bait"), (0,)), "only once"),
                         (ComparePlan(RunConfig(), ("bait",), ()), "at least one seed"),
                         (ComparePlan(RunConfig(initial=500), ("bait",), (0,)), "initial")]:
        with pytest.raises(ValueError, match=needle):
            plan.validate("classification", 300)


def test_run_comparison_shares_the_start_of_each_seed(moons, small_config):
    from bait_core.learning.data import load_builtin
    plan = ComparePlan(base=small_config(rounds=2), strategies=("bait", "entropy"), seeds=(0, 1))
    events = list(run_comparison(plan, lambda seed: load_builtin("moons", seed=seed, n_points=300),
                                 lambda ds, seed: build_model("mlp", ds.input_shape, len(ds.classes), seed=seed)))
    done = [e for e in events if e.kind == "done"]
    assert [(e.strategy, e.seed) for e in done] == [("bait", 0), ("entropy", 0), ("bait", 1), ("entropy", 1)]
    assert [e.kind for e in events].count("round") == 4 * 3      # 2 rounds + the final evaluation each
    comp = Comparison.from_records([e.record for e in done], plan)
    for seed in (0, 1):
        picks = first_round_picks(comp, seed)
        (lab_a, pk_a), (lab_b, _) = picks["bait"], picks["entropy"]
        np.testing.assert_array_equal(lab_a, lab_b)                  # the same initial set …
        a, b = comp.record("bait", seed), comp.record("entropy", seed)
        assert a.rounds[0].metric == b.rounds[0].metric              # … and the same first model
        assert not lab_a[pk_a].any() and len(set(pk_a.tolist())) == len(pk_a) == 5
    assert comp.record("bait", 0).rounds[0].labeled_before.tolist() != \
        comp.record("bait", 1).rounds[0].labeled_before.tolist()     # seeds differ


def test_run_comparison_stops_when_asked(small_config):
    from bait_core.learning.data import load_builtin
    plan = ComparePlan(base=small_config(rounds=2), strategies=("random",), seeds=(0, 1))
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3
    events = list(run_comparison(plan, lambda seed: load_builtin("moons", seed=seed, n_points=300),
                                 lambda ds, seed: build_model("mlp", ds.input_shape, len(ds.classes), seed=seed),
                                 should_stop=stop))
    assert not any(e.kind == "done" for e in events)


def test_penalty_matrix_agrees_with_scipy_ttest_rel():
    """Every cell recomputed with scipy.stats.ttest_rel over the seeds at each checkpoint."""
    rng = np.random.default_rng(5)
    names = ("bait", "badge", "random")
    shift = {"bait": 0.03, "badge": 0.015, "random": 0.0}
    recs = [_rec(s, seed, 0.6 + shift[s] * np.r_[0, 1, 1, 1, 1] + rng.normal(0, 0.015, 5))
            for seed in range(6) for s in names]
    comp = Comparison.from_records(recs)
    pm = penalty_matrix(comp, alpha=0.05)
    want = np.zeros((3, 3))
    for i, a in enumerate(pm.strategies):
        for j, b in enumerate(pm.strategies):
            if i == j:
                continue
            for c in range(1, 5):
                xa = [comp.record(a, s).rounds[c].metric for s in range(6)]
                xb = [comp.record(b, s).rounds[c].metric for s in range(6)]
                res = stats.ttest_rel(xa, xb)
                want[i, j] += (res.pvalue < 0.05 and np.mean(xa) > np.mean(xb)) / 4
    np.testing.assert_allclose(pm.matrix, want)
    assert want.sum() > 0                                       # some cell is significant: not a 0 = 0 check


def test_spread_over_seeds_is_the_sample_std():
    import statistics

    from bait_core.viz.plots import auc_table, curve_stats

    recs = [_rec("bait", seed, m) for seed, m in enumerate(([0.5, 0.6, 0.7], [0.5, 0.65, 0.8], [0.5, 0.55, 0.75]))]
    row = auc_table(recs)[0]
    assert row["auc_std"] == pytest.approx(statistics.stdev([r.auc() for r in recs]), rel=1e-12)
    _, _, sd = curve_stats(recs)
    np.testing.assert_allclose(sd, [statistics.stdev(v) for v in zip(*[[x.metric for x in r.rounds] for r in recs])])
    assert np.isnan(auc_table(recs[:1])[0]["auc_std"])          # one seed: no sample spread


def test_same_strategies_and_the_two_class_identity():
    from bait_core import STRATEGIES
    from bait_core.learning.compare import same_strategies

    assert same_strategies(["bait", "margin", "entropy", "confidence"], 2) == [("confidence", "entropy", "margin")]
    assert same_strategies(["bait", "margin", "badge"], 2) == []
    assert same_strategies(["margin", "entropy"], 3) == [] and same_strategies(["margin", "entropy"], 1) == []
    rng = np.random.default_rng(0)
    h = rng.normal(size=(200, 4))
    q = rng.uniform(0, 1, 200)
    p2 = np.stack([q, 1 - q], 1)
    mask = np.zeros(200, bool)
    mask[:10] = True
    picks = {s: STRATEGIES[s](h, p2, mask, 25).indices for s in ("margin", "entropy", "confidence")}
    assert np.array_equal(picks["margin"], picks["entropy"]) and np.array_equal(picks["margin"], picks["confidence"])
    # K = 3 breaks the identity: (0.5, 0.5, 0) has margin 0 but less entropy than (0.4, 0.3, 0.3)
    p3 = np.array([[0.5, 0.5, 0.0], [0.4, 0.3, 0.3]])
    one = {s: STRATEGIES[s](np.eye(2), p3, None, 1).indices[0] for s in ("margin", "entropy")}
    assert one == {"margin": 0, "entropy": 1}


def test_records_that_differ_in_more_than_strategy_and_seed_are_refused():
    """A comparison's penalty matrix assumes runs that differ only by strategy and seed: a different
    batch size (more labels at every checkpoint), initial set, round count, model or preset is a
    sentence, and so are two different files that share a name (same source, two fingerprints)."""
    import dataclasses

    a, b = _rec("bait", 0, [0.5, 0.6]), _rec("random", 0, [0.5, 0.55])
    Comparison.from_records([a, b])                                   # the same settings: fine
    for name, value in (("batch_size", 20), ("initial", 5), ("rounds", 3), ("model", "linear"), ("preset", "paper")):
        other = dataclasses.replace(b, config=dataclasses.replace(b.config, **{name: value}))
        with pytest.raises(ValueError, match="differ in their|different models"):
            Comparison.from_records([a, other])
    f1, f2 = _rec("bait", 0, [0.5, 0.6], fingerprint="x"), _rec("random", 0, [0.5, 0.6], fingerprint="y")
    for r in (f1, f2):
        r.dataset.update(source="file:data.csv", name="data.csv")
    with pytest.raises(ValueError, match="different datasets"):
        Comparison.from_records([f1, f2])
    s0, s1 = _rec("bait", 0, [0.5, 0.6], fingerprint="s0"), _rec("bait", 1, [0.5, 0.6], fingerprint="s1")
    Comparison.from_records([s0, s1])                                 # a built-in is split by the seed: fine
