"""Approximate BAIT (selection/approx.py; Huseljic et al., "Fast Fishing", ECML PKDD 2024): each
approximation is the exact greedy on the approximated Fisher (checked against the stable reference fed
the paper's factors), deterministic per seed, labelled in Selection.params and everywhere a strategy is
named, exact when it degenerates; the options are validated with sentences and travel through
RunConfig, the record, the CLI and the Setup page."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bait_core.__main__ import main
from bait_core.records.run_record import RunConfig, RunRecord
from bait_core.selection import estimate as est
from bait_core.selection.approx import binary_factors, sample_candidates, top_c_factors
from bait_core.selection.bait import bait_select
from bait_core.selection.fisher import dense_factor, reduced_factors
from bait_core.selection.registry import selection_label, strategy_label

from . import bait_stable_reference as ref

N, d, K, B = 60, 3, 5, 4


def pool(seed: int = 0, N: int = N, K: int = K):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(N, d))
    z = rng.normal(size=(N, K)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labeled = np.zeros(N, bool)
    labeled[rng.choice(N, 8, replace=False)] = True
    return h, p, labeled


APPROX = {
    "top-2": {"approximation": "top-c", "top_classes": 2},
    "binary": {"approximation": "binary"},
    "sample": {"pool_sample": 25},
    "top-2+sample": {"approximation": "top-c", "top_classes": 2, "pool_sample": 25},
    "binary+sample": {"approximation": "binary", "pool_sample": 25},
}


def _basis(K: int) -> np.ndarray:
    """H (K, K−1): fisher.reduced_factors' orthonormal basis of 1⊥ (Householder, 1/√K ↦ −e_K)."""
    w = np.full(K, 1 / np.sqrt(K))
    w[-1] += 1
    return (np.eye(K) - 2 * np.outer(w, w) / (w @ w))[:, :K - 1]


def _top_c_tensor(h: np.ndarray, p: np.ndarray, c: int) -> torch.Tensor:
    """The paper's top-c gradient embeddings as dal-toolbox builds them, in the full K·d space:
    row j = sqrt(p̃_y) (e_y − p) ⊗ h for the j-th most probable class y, p̃ = p / Σ_top p.  (N, c, K·d)"""
    n, K = p.shape
    out = torch.zeros(n, c, K * h.shape[1], dtype=torch.float64)
    for i in range(n):
        top = np.argsort(-p[i], kind="stable")[:c]
        mass = p[i, top].sum()
        for j, y in enumerate(top):
            g = np.sqrt(p[i, y] / mass) * (np.eye(K)[y] - p[i])
            out[i, j] = torch.from_numpy(np.kron(g, h[i]))
    return out


# ----------------------------------------------------------------------------- factors

def test_top_c_factor_is_the_truncated_renormalised_expectation():
    h, p, _ = pool()
    for c in (1, 2, 4):
        R = top_c_factors(torch.from_numpy(p), c).numpy()                 # (N, K−1, c)
        assert R.shape == (N, K - 1, c)
        H = _basis(K)
        for i in range(N):
            top = np.argsort(-p[i])[:c]
            C = sum(p[i, y] / p[i, top].sum() * np.outer(np.eye(K)[y] - p[i], np.eye(K)[y] - p[i]) for y in top)
            G = H @ R[i]                                                   # back to the K class coordinates
            np.testing.assert_allclose(G @ G.T, C, atol=1e-12)
    with pytest.raises(ValueError, match="1 ≤ c < K"):
        top_c_factors(torch.from_numpy(p), K)


def test_top_c_with_k_minus_1_classes_is_not_exact():
    """Dropping only the least likely class still changes the Fisher: c = K − 1 is approximate."""
    _, p, _ = pool()
    pt = torch.from_numpy(p)
    R, E = top_c_factors(pt, K - 1), reduced_factors(pt)
    diff = (R @ R.transpose(1, 2) - E @ E.transpose(1, 2)).abs().amax()
    assert diff > 1e-3


def test_binary_factor_is_the_bernoulli_fisher_of_the_predicted_class():
    h, p, _ = pool()
    G = binary_factors(torch.from_numpy(p))
    assert G.shape == (N, 1, 1)
    p_hat = p.max(1)
    V = dense_factor(torch.from_numpy(h), G).numpy()                      # (N, d, 1)
    for i in range(N):
        np.testing.assert_allclose(V[i] @ V[i].T, p_hat[i] * (1 - p_hat[i]) * np.outer(h[i], h[i]), atol=1e-12)


# ----------------------------------------------------------------------------- selections

@pytest.mark.parametrize("name", list(APPROX))
def test_each_approximation_is_deterministic_labelled_and_picks_b_unlabeled_points(name):
    h, p, labeled = pool()
    a = bait_select(h, p, labeled, B, seed=3, **APPROX[name])
    b = bait_select(h, p, labeled, B, seed=3, **APPROX[name])
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.objective, b.objective)
    assert a.indices.size == B and np.unique(a.indices).size == B and not labeled[a.indices].any()
    assert a.params["approximation"].endswith("(approximate)")
    assert a.params["approximation_options"]["approximation"] == APPROX[name].get("approximation", "none")
    assert "approximate" in selection_label(a) and selection_label(a).startswith("BAIT (")
    exact = bait_select(h, p, labeled, B)
    assert exact.params["approximation"] == "exact" and selection_label(exact) == "BAIT"


def test_pool_sample_depends_on_the_seed_and_picks_only_from_the_sample():
    h, p, labeled = pool()
    subsets = []
    for seed in (0, 1):
        sel = bait_select(h, p, labeled, B, seed=seed, pool_sample=25)
        considered = np.flatnonzero(np.isfinite(sel.scores))
        assert considered.size == 25 and not labeled[considered].any()
        assert set(sel.indices) <= set(considered) and set(sel.pruned) <= set(considered)
        assert sel.params["approximation"] == f"a random 25 of {N - 8} unlabeled points (approximate)"
        subsets.append(tuple(considered))
    assert subsets[0] != subsets[1]
    np.testing.assert_array_equal(sample_candidates(np.flatnonzero(~labeled), 25, 0), np.asarray(subsets[0]))


@pytest.mark.parametrize("c", [2, 4])
def test_top_c_is_the_exact_greedy_on_the_papers_top_c_fisher(monkeypatch, c):
    """The engine with top-c picks what the stable reference picks when fed the paper's top-c gradient
    embeddings (full K·d coordinates, built as dal-toolbox builds them)."""
    h, p, labeled = pool(seed=2)
    sel = bait_select(h, p, labeled, B, approximation="top-c", top_classes=c)
    monkeypatch.setattr(ref, "_factors", lambda h_, p_: _top_c_tensor(np.asarray(h_), np.asarray(p_), c))
    idx, pruned, objective, _ = ref.stable_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, idx)
    np.testing.assert_array_equal(sel.pruned, pruned)
    np.testing.assert_allclose(sel.objective, objective, rtol=1e-8)
    assert sel.params["approximation"] == f"top-{c} classes of {K} (approximate)"


def test_binary_is_the_exact_greedy_on_the_bernoulli_fisher(monkeypatch):
    h, p, labeled = pool(seed=4)
    sel = bait_select(h, p, labeled, B, approximation="binary")
    p_hat = p.max(1)
    X = torch.from_numpy(np.sqrt(p_hat * (1 - p_hat))[:, None] * h)[:, None, :]   # (N, 1, d)
    monkeypatch.setattr(ref, "_factors", lambda h_, p_: X)
    idx, pruned, objective, _ = ref.stable_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, idx)
    np.testing.assert_allclose(sel.objective, objective, rtol=1e-8)


def test_pool_sample_is_exact_bait_on_the_sampled_pool():
    """F and the candidates come from the sample and the labeled points: the same as exact BAIT run on
    that smaller pool (dal-toolbox's subset_size)."""
    h, p, labeled = pool(seed=5)
    sel = bait_select(h, p, labeled, B, seed=7, pool_sample=30)
    keep = np.sort(np.concatenate([np.flatnonzero(labeled), np.flatnonzero(np.isfinite(sel.scores))]))
    small = bait_select(h[keep], p[keep], labeled[keep], B)
    np.testing.assert_array_equal(sel.indices, keep[small.indices])
    np.testing.assert_allclose(sel.objective, small.objective, rtol=1e-12)


@pytest.mark.parametrize("options", [{"approximation": "top-c", "top_classes": K},
                                     {"approximation": "top-c", "top_classes": K + 7},
                                     {"pool_sample": N - 8}, {"pool_sample": 10_000}, {"pool_sample": 0}])
def test_degenerate_approximations_are_exact(options):
    h, p, labeled = pool(seed=1)
    exact = bait_select(h, p, labeled, B)
    sel = bait_select(h, p, labeled, B, seed=5, **options)
    np.testing.assert_array_equal(sel.indices, exact.indices)
    np.testing.assert_array_equal(sel.objective, exact.objective)
    assert sel.params["approximation"] == "exact"
    assert selection_label(sel) == "BAIT"


def test_regression_takes_a_pool_sample_but_no_class_approximation():
    h, _, labeled = pool()
    sel = bait_select(h, None, labeled, B, pool_sample=20)
    assert sel.params["approximation"].endswith("(approximate)")
    for kind in ("top-c", "binary"):
        with pytest.raises(ValueError, match=f"approximation '{kind}' needs class probabilities"):
            bait_select(h, None, labeled, B, approximation=kind)
    with pytest.raises(ValueError, match="needs class probabilities"):
        RunConfig(approximation="binary").validate("regression")
    RunConfig(pool_sample=20).validate("regression")


@pytest.mark.parametrize("options, sentence", [
    ({"approximation": "top-k"}, "approximation must be one of 'none', 'top-c' or 'binary', got 'top-k'."),
    ({"approximation": None}, "approximation must be one of 'none', 'top-c' or 'binary'"),
    ({"top_classes": 0}, "top_classes (c of the top-c approximation) must be a whole number ≥ 1, got 0."),
    ({"top_classes": 2.5}, "top_classes (c of the top-c approximation) must be a whole number ≥ 1, got 2.5."),
    ({"pool_sample": -1}, "pool_sample (unlabeled points BAIT considers; 0 = all) must be a whole number ≥ 0"),
    ({"pool_sample": "100"}, "pool_sample (unlabeled points BAIT considers; 0 = all) must be a whole number ≥ 0, "
                             "got '100'."),
])
def test_options_are_validated_with_sentences(options, sentence):
    h, p, labeled = pool()
    with pytest.raises(ValueError) as e:
        bait_select(h, p, labeled, B, **options)
    assert sentence in str(e.value)
    name = next(iter(options))
    with pytest.raises(ValueError, match=name.replace("_", " ")):         # RunConfig names it by its label
        RunConfig(**options).validate()


# ----------------------------------------------------------------------------- run config, record, labels

def test_run_config_and_record_round_trip_the_options():
    config = RunConfig(approximation="top-c", top_classes=3, pool_sample=500)
    config.validate()
    assert config.strategy_options() == {"lamb": 1.0, "oversample": 2.0, "approximation": "top-c", "top_classes": 3,
                                         "pool_sample": 500}
    assert config.strategy_label() == "BAIT (approximate: top-3 classes, 500-point pool sample)"
    assert config.strategy_label(K=3, n_unlabeled=400) == "BAIT"                  # both degenerate here
    assert RunConfig(strategy="entropy", approximation="binary").strategy_options() == {}
    rec = RunRecord(config=config, dataset={"n_points": 10, "task": "classification"}, model={})
    back = RunRecord.from_json(rec.to_json())
    assert back.config == config
    doc = json.loads(rec.to_json())
    doc["config"]["approximation"] = "top-k"
    with pytest.raises(ValueError, match="approximation"):
        RunRecord.from_json(json.dumps(doc))
    assert {"approximation", "top_classes", "pool_sample"} <= set(doc["config"])
    plain = json.loads(RunRecord(config=RunConfig(), dataset={"n_points": 10}, model={}).to_json())
    assert not {"approximation", "top_classes", "pool_sample"} & set(plain["config"])   # exact: as before
    assert RunRecord.from_json(json.dumps(plain)).config == RunConfig()
    only_c = RunConfig(top_classes=4)                               # one option set, the others default
    assert RunRecord.from_json(RunRecord(config=only_c, dataset={"n_points": 10}, model={}).to_json()).config == only_c


def test_a_run_with_an_approximation_is_labelled_in_its_record_and_story():
    from bait_core.learning.loop import run
    from bait_core.records.story import Story

    import views

    config = RunConfig(data="builtin:moons", model="mlp", strategy="bait", rounds=1, batch_size=5, initial=10,
                       approximation="binary", pool_sample=100)
    record = run(config)
    sel = record.rounds[0].selection
    assert sel.params["approximation"].startswith("binary: predicted class vs the rest, a random 100 of")
    back = RunRecord.from_json(record.to_json())
    assert back.rounds[0].selection.params["approximation"] == sel.params["approximation"]
    assert back.config.approximation == "binary" and back.config.pool_sample == 100
    story = Story.from_record(back)
    assert "BAIT (approximate: binary, 100-point pool sample)" in story.intro
    assert "(approximate: binary" in story.title
    assert "BAIT (approximate: binary, 100-point pool sample" in story.steps[0].caption
    assert "The approximate Fisher objective" in story.steps[0].caption
    assert views.strategy_text(back.config) == "bait (approximate: binary, 100-point pool sample)"
    assert views.selection_text(sel) == "bait (approximate: binary, 100-point pool sample)"
    assert "These picks are approximate: binary" in views.approximation_note(sel)
    assert views.approximation_note(bait_select(*pool()[:3], B)) == ""
    assert strategy_label("entropy", {"approximation": "binary"}) == "Entropy sampling"


# ----------------------------------------------------------------------------- estimator and offer

def test_the_estimator_counts_the_approximations():
    sizes = (10_000, 64, 100, 100, 100)
    exact = est.estimate("bait", *sizes)
    top = est.estimate("bait", *sizes, approximation="top-c", top_classes=10)
    binary = est.estimate("bait", *sizes, approximation="binary")
    sample = est.estimate("bait", *sizes, pool_sample=2000)
    assert binary.seconds < top.seconds < exact.seconds and sample.seconds < exact.seconds
    assert binary.bytes < top.bytes < exact.bytes and sample.bytes < exact.bytes
    same = est.estimate("bait", *sizes, approximation="top-c", top_classes=100)
    assert (same.seconds, same.bytes) == (exact.seconds, exact.bytes)
    with pytest.raises(ValueError, match="approximation must be one of"):
        est.estimate("bait", *sizes, approximation="fast")


def test_the_offer_names_exact_and_approximate_estimates_above_the_threshold_only():
    text = est.approximation_offer(10_000, 64, 100, 100, 100, threshold=1.0)
    exact = est.estimate("bait", 10_000, 64, 100, 100, 100).seconds
    top = est.estimate("bait", 10_000, 64, 100, 100, 100, approximation="top-c", top_classes=10).seconds
    assert text.startswith(f"Exact BAIT on this pool is estimated at {est.format_seconds(exact)}; "
                           f"the top-10 class approximation at {est.format_seconds(top)}")
    assert "(Setup > Approximation)" in text
    assert est.approximation_offer(10_000, 64, 100, 100, 100, threshold=exact + 1) is None
    assert est.approximation_offer(200, 4, 3, 5, 10) is None                       # small: exact is quick


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def npy(tmp_path):
    h, p, labeled = pool()
    for name, a in (("E", h), ("P", p), ("L", labeled)):
        np.save(tmp_path / f"{name}.npy", a)
    return tmp_path


def _select(npy, *extra):
    return ["select", "--embeddings", str(npy / "E.npy"), "--probs", str(npy / "P.npy"), "--labeled",
            str(npy / "L.npy"), "--batch-size", str(B), *extra]


def test_cli_flags_select_an_approximation(npy, capsys):
    assert main(_select(npy, "--approximation", "top-c", "--top-classes", "2", "--pool-sample", "30",
                        "--seed", "4")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["params"]["approximation"] == f"top-2 classes of {K}, a random 30 of {N - 8} unlabeled points " \
                                             "(approximate)"
    h, p, labeled = pool()
    sel = bait_select(h, p, labeled, B, seed=4, approximation="top-c", top_classes=2, pool_sample=30)
    assert doc["indices"] == sel.indices.tolist()


@pytest.mark.parametrize("argv, fragment", [
    (["--approximation", "fast"], "invalid choice: 'fast'"),
    (["--top-classes", "0"], "--top-classes must be a whole number ≥ 1, got 0."),
    (["--pool-sample", "-3"], "--pool-sample must be a whole number ≥ 0, got -3."),
    (["--strategy", "entropy", "--approximation", "binary"], "--approximation applies only to --strategy bait"),
    (["--strategy", "random", "--pool-sample", "10"], "--pool-sample applies only to --strategy bait"),
])
def test_cli_refuses_bad_approximation_flags(npy, capsys, argv, fragment):
    assert main(_select(npy, *argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and fragment in err and err.count("\n") == 1


def test_cli_offers_an_approximation_but_stays_exact(npy, capsys, monkeypatch):
    monkeypatch.setattr(est, "APPROX_OFFER_SECONDS", 0.0)
    assert main(_select(npy)) == 0
    out, err = capsys.readouterr()
    assert "note: Exact BAIT on this pool is estimated at" in err
    assert "--approximation top-c --top-classes 10" in err and "Running exact BAIT (the default)." in err
    assert json.loads(out)["params"]["approximation"] == "exact"
    assert main(_select(npy, "--approximation", "binary")) == 0          # chosen: no offer, but said
    err = capsys.readouterr().err
    assert "Exact BAIT on this pool" not in err
    assert "note: approximate BAIT: binary" in err and "not of the exact one" in err
    monkeypatch.setattr(est, "APPROX_OFFER_SECONDS", 1e9)
    assert main(_select(npy)) == 0
    assert "note:" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- app

def test_setup_page_shows_sets_and_offers_the_approximation(monkeypatch):
    from .app_helpers import assert_ok, open_app

    import app_keys as AK

    monkeypatch.setattr(est, "APPROX_OFFER_SECONDS", 0.0)
    at = open_app("app_pages/setup.py")
    assert_ok(at)
    box = at.selectbox(key="setup_approximation")
    assert list(box.options) == ["Exact (no approximation)", "Top-c classes (approximate)",
                                 "Binary: predicted class vs the rest (approximate)"]
    assert "Huseljic et al." in box.help and "Fast Fishing" in box.help
    assert at.number_input(key="setup_top_classes").disabled                 # only for top-c
    assert any("Exact BAIT on this pool is estimated at" in i.value and "Approximation)" in i.value
               for i in at.info)
    box.select("top-c").run()
    at.number_input(key="setup_top_classes").set_value(3).run()
    at.number_input(key="setup_pool_sample").set_value(500).run()
    assert not any("Exact BAIT on this pool" in i.value for i in at.info)    # an approximation is chosen
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    config = at.session_state[AK.EXPLORER].config
    assert (config.approximation, config.top_classes, config.pool_sample) == ("top-c", 3, 500)
    at.switch_page("app_pages/rounds.py").run()
    assert_ok(at)
    assert any("bait (approximate: top-3 classes, 500-point pool sample)" in c.value for c in at.caption)


def test_options_that_would_do_nothing_are_refused():
    """A pool sample smaller than the batch, top_classes without top-c, and a device torch cannot select on."""
    rng = np.random.default_rng(0)
    h = rng.normal(size=(60, 4))
    p = np.full((60, 5), 0.2)
    lab = np.zeros(60, bool)
    lab[:5] = True
    with pytest.raises(ValueError, match=r"pool_sample = 2 is smaller than the batch size 4"):
        bait_select(h, p, lab, 4, pool_sample=2)
    with pytest.raises(ValueError, match=r"top_classes = 3 applies only with approximation 'top-c'"):
        bait_select(h, p, lab, 4, top_classes=3)
    for device in ("meta", "mps"):
        with pytest.raises(ValueError, match=r"selections run on cpu or cuda"):
            bait_select(h, p, lab, 4, device=device)
    from bait_core.records.run_record import RunConfig
    with pytest.raises(ValueError, match=r"approximation = 'binary' is an option of another strategy"):
        RunConfig(strategy="margin", approximation="binary").validate()
    with pytest.raises(ValueError, match=r"pool_sample = 3 is smaller than the batch size 10"):
        RunConfig(strategy="bait", pool_sample=3, batch_size=10).validate()
