"""The contract every registered strategy keeps, plus checks specific to the baselines.

Parametrized over every name in bait_core.STRATEGIES, so a newly registered strategy is covered.
Fixtures are small (N=60, d=5, K=3) so the whole file runs in a few seconds.
"""

from __future__ import annotations

import re
import math

import numpy as np
import pytest
import torch

import bait_core
from bait_core import STRATEGIES, Selection
from bait_core.selection.baselines import gradient_embeddings

from .chunking import tiny_chunks  # noqa: F401  (a fixture)

NAMES = sorted(STRATEGIES)
NEEDS_PROBS = {"entropy", "margin", "confidence", "badge", "badge-sklearn"}
N, D, K, B = 60, 5, 3, 7
TIMING_KEYS = {"setup", "forward", "backward", "total"}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def make_pool(seed: int = 0, n: int = N, d: int = D, k: int = K, n_labeled: int = 12):
    """(embeddings (n, d), probs (n, k), labeled bool mask (n,)) from a seeded rng."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d))
    p = _softmax(2.0 * rng.normal(size=(n, k)))
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=n_labeled, replace=False)] = True
    return h, p, mask


@pytest.fixture(params=["labeled", "none-labeled"])
def pool(request):
    h, p, mask = make_pool()
    if request.param == "none-labeled":
        mask = np.zeros(N, dtype=bool)
    return h, p, mask


def check_selection(sel: Selection, name: str, mask: np.ndarray, batch: int) -> None:
    """Shape, dtype and validity checks shared by the contract tests."""
    assert isinstance(sel, Selection)
    assert sel.strategy == name
    idx = sel.indices
    assert idx.dtype == np.int64
    assert idx.shape == (batch,)
    assert np.unique(idx).size == batch, "duplicate picks"
    assert ((idx >= 0) & (idx < mask.size)).all()
    assert not mask[idx].any(), "picked a labeled point"
    assert sel.gains.shape == (batch,)
    assert sel.scores.shape == (mask.size,)
    assert np.isnan(sel.scores[mask]).all(), "labeled points must score NaN"
    assert TIMING_KEYS <= set(sel.timings)
    t = sel.timings                                  # the phases split the total (durations: never negative)
    assert all(math.isfinite(v) and v >= 0 for v in t.values())
    assert t["total"] == pytest.approx(t["setup"] + t["forward"] + t["backward"], rel=1e-9, abs=1e-9)


# ----------------------------------------------------------------------------- the contract

@pytest.mark.parametrize("name", NAMES)
def test_returns_valid_selection(name, pool):
    h, p, mask = pool
    sel = STRATEGIES[name](h, p, mask, B, seed=0)
    check_selection(sel, name, mask, B)
    assert isinstance(sel.to_dict()["indices"], list)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_same_seed(name, pool):
    h, p, mask = pool
    a = STRATEGIES[name](h, p, mask, B, seed=3)
    b = STRATEGIES[name](h, p, mask, B, seed=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.gains, b.gains)          # NaN == NaN here
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("name", NAMES)
def test_batch_equal_to_unlabeled_count(name, pool):
    h, p, mask = pool
    n_unl = int((~mask).sum())
    sel = STRATEGIES[name](h, p, mask, n_unl, seed=0)
    check_selection(sel, name, mask, n_unl)
    np.testing.assert_array_equal(np.sort(sel.indices), np.flatnonzero(~mask))


@pytest.mark.parametrize("name", NAMES)
def test_labeled_indices_same_as_mask(name):
    h, p, mask = make_pool()
    by_mask = STRATEGIES[name](h, p, mask, B, seed=1)
    by_idx = STRATEGIES[name](h, p, np.flatnonzero(mask), B, seed=1)
    by_list = STRATEGIES[name](h, p, np.flatnonzero(mask).tolist(), B, seed=1)
    for other in (by_idx, by_list):
        np.testing.assert_array_equal(by_mask.indices, other.indices)
        np.testing.assert_array_equal(by_mask.gains, other.gains)
        np.testing.assert_array_equal(by_mask.scores, other.scores)


@pytest.mark.parametrize("name", NAMES)
def test_torch_inputs_same_as_numpy(name):
    h, p, mask = make_pool()
    a = STRATEGIES[name](h, p, mask, B, seed=0)
    b = STRATEGIES[name](torch.from_numpy(h), torch.from_numpy(p), torch.from_numpy(mask), B, seed=0)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.gains, b.gains, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_float32_runs(name):
    h, p, mask = make_pool()
    sel = STRATEGIES[name](h.astype(np.float32), p.astype(np.float32), mask, B, seed=0,
                           dtype=torch.float32)
    check_selection(sel, name, mask, B)


@pytest.mark.parametrize("name", NAMES)
def test_regression_head_without_probs(name):
    h, _, mask = make_pool()
    if name in NEEDS_PROBS:
        with pytest.raises(ValueError, match="needs class probabilities"):
            STRATEGIES[name](h, None, mask, B)
    else:
        check_selection(STRATEGIES[name](h, None, mask, B, seed=0), name, mask, B)


@pytest.mark.parametrize("name", NAMES)
def test_progress_called_and_can_cancel(name):
    h, p, mask = make_pool()
    calls = []
    sel = STRATEGIES[name](h, p, mask, B, progress=lambda *a: calls.append(a))
    check_selection(sel, name, mask, B)
    assert calls, "progress was never called"
    for phase, step, total, _value in calls:
        assert phase in {"setup", "forward", "backward", "select"}
        assert 0 <= step <= total

    class Cancel(Exception):
        pass

    def stop(*_a):
        raise Cancel

    with pytest.raises(Cancel):
        STRATEGIES[name](h, p, mask, B, progress=stop)


def _bad_cases():
    h, p, mask = make_pool()
    n_unl = int((~mask).sum())
    h_nan = h.copy()
    h_nan[4, 2] = np.nan
    return {
        "batch-zero": ((h, p, mask, 0), {}, "at least 1"),
        "batch-too-big": ((h, p, mask, n_unl + 1), {}, "larger than"),
        "probs-rows": ((h, p[:-1], mask, B), {}, "rows"),
        "probs-not-normalised": ((h, p * 1.5, mask, B), {}, "sum to 1"),
        "nan-embeddings": ((h_nan, p, mask, B), {}, "NaN"),
        "mask-length": ((h, p, mask[:-1], B), {}, "labeled mask"),
        "unknown-option": ((h, p, mask, B), {"bogus_option": 1}, "bogus_option"),
    }


BAD = _bad_cases()


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_value_error(name, case):
    args, kwargs, pattern = BAD[case]
    with pytest.raises(ValueError, match=pattern):
        STRATEGIES[name](*args, **kwargs)


def test_registry_exported():
    assert set(NAMES) == {"bait", "random", "entropy", "margin", "confidence", "badge", "badge-sklearn", "coreset"}
    for name in NAMES:
        assert bait_core.get_strategy(name) is STRATEGIES[name]
    with pytest.raises(ValueError, match="Unknown strategy"):
        bait_core.get_strategy("nope")


# ----------------------------------------------------------------------------- uncertainty baselines

def _numpy_uncertainty(name: str, p: np.ndarray) -> tuple[np.ndarray, bool]:
    """(score (N,), descending?) computed directly in numpy."""
    if name == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(p > 0, p * np.log(p), 0.0).sum(1), True
    if name == "margin":
        s = np.sort(p, axis=1)
        return s[:, -1] - s[:, -2], False
    return 1.0 - p.max(1), True


@pytest.mark.parametrize("name", ["entropy", "margin", "confidence"])
@pytest.mark.parametrize("with_labeled", [True, False])
def test_uncertainty_matches_numpy(name, with_labeled):
    h, p, mask = make_pool(seed=5)
    if not with_labeled:
        mask[:] = False
    score, desc = _numpy_uncertainty(name, p)
    unl = np.flatnonzero(~mask)
    key = -score[unl] if desc else score[unl]
    want = unl[np.argsort(key, kind="stable")[:B]]
    sel = STRATEGIES[name](h, p, mask, B)
    np.testing.assert_array_equal(sel.indices, want)
    np.testing.assert_allclose(sel.gains, score[want], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sel.scores[unl], score[unl], rtol=1e-12, atol=1e-12)
    gains = sel.gains if desc else -sel.gains
    assert (np.diff(gains) <= 1e-15).all(), "picks must come best-first"


@pytest.mark.parametrize("name", ["entropy", "margin", "confidence"])
def test_uncertainty_ties_go_to_lowest_index(name):
    n = 20
    p = np.tile([0.7, 0.2, 0.1], (n, 1))        # all tied ...
    p[[3, 11, 17]] = [0.4, 0.35, 0.25]         # ... except three clearly more uncertain points
    h = np.random.default_rng(0).normal(size=(n, 4))
    labeled = np.array([0, 11])
    sel = STRATEGIES[name](h, p, labeled, 5)
    np.testing.assert_array_equal(sel.indices, [3, 17, 1, 2, 4])


def test_uncertainty_with_zero_probabilities():
    h, _, _ = make_pool(n=10, n_labeled=0)
    p = np.zeros((10, 3))
    p[np.arange(10), np.arange(10) % 3] = 1.0    # one-hot rows: entropy 0, not NaN
    p[6] = [0.5, 0.5, 0.0]
    for name in ("entropy", "margin", "confidence"):
        sel = STRATEGIES[name](h, p, None, 2)
        assert sel.indices[0] == 6
        assert np.isfinite(sel.scores).all()
        assert sel.indices[1] == 0                # the rest tie: lowest index


# ----------------------------------------------------------------------------- random

def test_random_seeds_differ_and_are_uniform_without_replacement():
    h, p, mask = make_pool(n=500, n_labeled=50)
    a = STRATEGIES["random"](h, p, mask, 50, seed=0)
    b = STRATEGIES["random"](h, p, mask, 50, seed=1)
    assert not np.array_equal(np.sort(a.indices), np.sort(b.indices))
    assert np.isnan(a.scores).all() and np.isnan(a.gains).all()
    # over many seeds every unlabeled point gets picked at some point, no labeled one ever
    seen = np.zeros(500, dtype=int)
    for s in range(40):
        seen[STRATEGIES["random"](h, None, mask, 200, seed=s).indices] += 1
    assert (seen[mask] == 0).all()
    assert (seen[~mask] > 0).all()


# ----------------------------------------------------------------------------- coreset

def test_coreset_picks_farthest_first():
    # points on a line; labeled at 0 and 10; unlabeled at 1, 4, 25, 13, 6, 25 (tie: lower index)
    x = np.array([0.0, 10.0, 1.0, 4.0, 25.0, 13.0, 6.0, 25.0])
    h = np.stack([x, np.zeros_like(x)], 1)
    sel = STRATEGIES["coreset"](h, None, np.array([0, 1]), 3)
    # 1st: index 4 (distance 15, ties with 7 -> lower index); then 7 is at 0 from 4;
    # remaining distances to {0, 10, 25}: 1->1, 4->4, 13->3, 6->4 -> index 3 (lowest of the 4s)
    np.testing.assert_array_equal(sel.indices, [4, 3, 5])
    np.testing.assert_allclose(sel.gains, [15.0, 4.0, 3.0])
    want_scores = np.array([np.nan, np.nan, 1, 4, 15, 3, 4, 15])
    np.testing.assert_allclose(sel.scores, want_scores)


def test_coreset_without_labeled_starts_at_seeded_point():
    x = np.arange(30, dtype=float)
    h = np.stack([x, np.zeros_like(x)], 1)
    firsts = set()
    for seed in range(6):
        sel = STRATEGIES["coreset"](h, None, None, 3, seed=seed)
        first = int(sel.indices[0])
        firsts.add(first)
        assert np.isnan(sel.gains[0]) and np.isnan(sel.scores).all()
        far = 0 if first >= 15 else 29                       # farthest end from the start
        assert sel.indices[1] == far
        assert sel.gains[1] == pytest.approx(abs(far - first))
    assert len(firsts) > 1, "the first centre should depend on the seed"


def test_coreset_scores_are_distance_to_labeled():
    h, p, mask = make_pool()
    sel = STRATEGIES["coreset"](h, p, mask, B)
    dist = np.linalg.norm(h[:, None, :] - h[None, mask, :], axis=2).min(1)
    np.testing.assert_allclose(sel.scores[~mask], dist[~mask], rtol=1e-12)
    assert sel.gains[0] == pytest.approx(dist[~mask].max())
    assert (np.diff(sel.gains) <= 1e-12).all(), "k-center gains never increase"


def test_coreset_distances_in_one_centre_per_chunk_are_the_same(tiny_chunks):
    """_min_distances with one labeled centre per cdist block: the same scores, picks and gains as
    the explicit distances (and as the default single block)."""
    h, p, mask = make_pool(seed=4)
    sel = STRATEGIES["coreset"](h, p, mask, B)
    assert len(tiny_chunks.chunks["cdist_calls"]) == mask.sum() > 1
    dist = np.linalg.norm(h[:, None, :] - h[None, mask, :], axis=2).min(1)
    np.testing.assert_allclose(sel.scores[~mask], dist[~mask], rtol=1e-12)
    centres, want = list(np.flatnonzero(mask)), []
    for _ in range(B):                                              # greedy k-center by hand
        d = np.linalg.norm(h[:, None, :] - h[None, centres, :], axis=2).min(1)
        d[mask | np.isin(np.arange(N), centres)] = -1
        want.append(int(np.argmax(d)))
        centres.append(want[-1])
    np.testing.assert_array_equal(sel.indices, want)


# ----------------------------------------------------------------------------- badge

def test_badge_gradient_embedding_layout():
    h = np.array([[1.0, 2.0], [3.0, -1.0]])
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    g = gradient_embeddings(torch.from_numpy(h), torch.from_numpy(p)).numpy()
    want = np.stack([np.kron(p[i] - np.eye(3)[p[i].argmax()], h[i]) for i in range(2)])
    np.testing.assert_allclose(g, want)
    sel = STRATEGIES["badge"](h, p, None, 1)
    np.testing.assert_allclose(sel.scores, np.linalg.norm(want, axis=1))


@pytest.mark.parametrize("n_distinct", [1, 4])
def test_badge_duplicates_still_unique(n_distinct):
    rng = np.random.default_rng(0)
    n = 50
    h = np.repeat(rng.normal(size=(n_distinct, 4)), n // n_distinct + 1, axis=0)[:n]
    p = np.repeat(_softmax(rng.normal(size=(n_distinct, 3))), n // n_distinct + 1, axis=0)[:n]
    mask = np.zeros(n, dtype=bool)
    mask[:5] = True
    sel = STRATEGIES["badge"](h, p, mask, 20, seed=2)
    check_selection(sel, "badge", mask, 20)
    again = STRATEGIES["badge"](h, p, mask, 20, seed=2)
    np.testing.assert_array_equal(sel.indices, again.indices)
    assert 0 <= sel.params["n_topped_up"] <= 20 - n_distinct


def test_badge_all_zero_gradients():
    h = np.zeros((30, 4))
    p = np.tile([0.5, 0.3, 0.2], (30, 1))
    sel = STRATEGIES["badge"](h, p, np.arange(3), 27)
    check_selection(sel, "badge", np.isin(np.arange(30), np.arange(3)), 27)
    assert (sel.gains == 0).all()


def test_badge_prefers_distinct_gradients():
    # two tight clusters of gradient embeddings far apart: a batch of 2 takes one from each
    rng = np.random.default_rng(1)
    h = np.concatenate([rng.normal(size=(20, 3)) * 1e-3 + 5, rng.normal(size=(20, 3)) * 1e-3 - 5])
    p = np.tile([0.6, 0.3, 0.1], (40, 1))
    for seed in range(5):
        sel = STRATEGIES["badge"](h, p, None, 2, seed=seed)
        assert (sel.indices < 20).sum() == 1
        assert sel.gains[1] > 1.0


def test_baselines_reject_bad_seed():
    h, p, mask = make_pool()
    for name in ("random", "badge", "coreset", "entropy"):
        with pytest.raises(ValueError, match="seed"):
            STRATEGIES[name](h, p, mask, B, seed=-1)


# ----------------------------------------------------------------------------- the registry's specs
# Each spec's claims (needs_probs, score direction, options, source) are checked against what the
# function does, so a spec cannot drift from its strategy.

from bait_core.records.run_record import NEEDS_PROBS as CONFIG_NEEDS_PROBS, RunConfig  # noqa: E402
from bait_core.selection.registry import SPECS, get_spec, run_options  # noqa: E402

COMMON_KEYWORDS = {"seed", "device", "dtype", "progress"}


def test_specs_and_strategies_are_one_registry():
    assert list(SPECS) == list(STRATEGIES)
    for name, spec in SPECS.items():
        assert spec.name == name and STRATEGIES[name] is spec.fn and get_spec(name) is spec
    with pytest.raises(ValueError, match=r"Unknown strategy 'nope'\. Known strategies: bait, random"):
        get_spec("nope")


@pytest.mark.parametrize("name", NAMES)
def test_spec_needs_probs_is_what_the_function_does(name):
    """probs=None on a classification pool: a strategy that needs probabilities refuses with the
    shared sentence, every other one selects; a regression run config is refused exactly then."""
    spec = SPECS[name]
    h, _, mask = make_pool()
    if spec.needs_probs:
        with pytest.raises(ValueError, match="needs class probabilities"):
            spec.fn(h, None, mask, B)
    else:
        check_selection(spec.fn(h, None, mask, B, seed=0), name, mask, B)
    assert spec.regression_ok == (not spec.needs_probs)
    assert (name in CONFIG_NEEDS_PROBS) == spec.needs_probs
    if spec.regression_ok:
        RunConfig(strategy=name).validate("regression")
    else:
        with pytest.raises(ValueError, match=rf"'{name}' needs class probabilities.*use bait, random or coreset"):
            RunConfig(strategy=name).validate("regression")


@pytest.mark.parametrize("name", NAMES)
def test_spec_uses_is_what_the_function_reads(name):
    """StrategySpec.uses (Setup's "Uses the model's ..." line): what a strategy does not list changes
    none of its picks or scores; what it lists changes them (other embeddings or probabilities, same
    labeled set and seed)."""
    spec = SPECS[name]
    h, p, mask = make_pool(seed=3)
    h2, p2, _ = make_pool(seed=4)
    base = spec.fn(h, p, mask, B, seed=0)
    for what, (hh, pp) in (("embeddings", (h2, p)), ("probabilities", (h, p2))):
        other = spec.fn(hh, pp, mask, B, seed=0)
        same = np.array_equal(base.indices, other.indices) and np.array_equal(base.scores, other.scores,
                                                                              equal_nan=True)
        assert same == (what not in spec.uses), (name, what)


@pytest.mark.parametrize("name", NAMES)
def test_spec_score_direction_is_what_the_function_picks(name):
    """"utility": the first greedy pick (BAIT: first forward pick) is the highest-scored unlabeled
    point; "cost": the lowest; None: no scores at all. first_pick_best=False (badge-sklearn: a random
    first centre) is checked to be true as well: over seeds the first pick is not always the best."""
    spec = SPECS[name]
    h, p, mask = make_pool(seed=11)                 # labeled points present: coreset has distances
    unl = np.flatnonzero(~mask)
    firsts = []
    for seed in range(6):
        sel = spec.fn(h, p, mask, 1, seed=seed)
        firsts.append(int(sel.forward_indices[0] if sel.forward_indices.size else sel.indices[0]))
        scores = sel.scores[unl]
    if spec.scores is None:
        assert np.isnan(sel.scores).all()
        return
    assert np.isfinite(scores).all() and np.unique(scores).size == unl.size   # no ties: argmax is one point
    best = int(unl[np.argmax(scores) if spec.scores == "utility" else np.argmin(scores)])
    worst = int(unl[np.argmin(scores) if spec.scores == "utility" else np.argmax(scores)])
    assert best != worst
    if spec.first_pick_best:
        assert firsts == [best] * len(firsts)
    else:
        assert set(firsts) != {best}


@pytest.mark.parametrize("name", NAMES)
def test_spec_options_are_the_functions_keywords_and_defaults(name):
    """Every option's default is the function's signature default and RunConfig's and the record
    schema's; the function accepts the default and refuses a value just outside the spec's range. A
    run option the spec does not list is refused by the function (the list is complete)."""
    import inspect

    from bait_core.records.schemas import ConfigSchema

    spec = SPECS[name]
    params = inspect.signature(spec.fn).parameters
    h, p, mask = make_pool()
    for opt_name, opt in spec.options.items():
        assert params[opt_name].default == opt.default
        assert getattr(RunConfig(), opt_name) == opt.default
        assert ConfigSchema.model_fields[opt_name].default == opt.default
        spec.fn(h, p, mask, B, **{opt_name: opt.default})
        outside = opt.minimum if opt.exclusive else opt.minimum - 0.5
        with pytest.raises(ValueError, match=opt_name):
            spec.fn(h, p, mask, B, **{opt_name: outside})
        with pytest.raises(ValueError, match=re.escape(opt.rule)):
            opt.check(outside)
        assert opt.check(opt.default) == opt.default
        if opt.maximum is not None:                            # bounded above too, where the arithmetic still works
            with pytest.raises(ValueError, match=opt_name):
                spec.fn(h, p, mask, B, **{opt_name: opt.maximum * 10})
            with pytest.raises(ValueError, match=re.escape(opt.rule)):
                RunConfig(strategy=name, **{opt_name: opt.maximum * 10}).validate()
        # a number, not text that looks like one; a text option (choices) only its own words
        bad_text = "not-one-of-the-choices" if opt.choices else str(opt.default)
        with pytest.raises(ValueError, match=opt_name):
            spec.fn(h, p, mask, B, **{opt_name: bad_text})
        with pytest.raises(ValueError, match=re.escape(opt.rule)):
            RunConfig(strategy=name, **{opt_name: bad_text}).validate()
    for other in set(run_options()) - set(spec.options):
        with pytest.raises(ValueError, match="unknown option"):
            spec.fn(h, p, mask, B, **{other: run_options()[other].default})
    assert set(RunConfig(strategy=name).strategy_options()) == set(spec.options)


@pytest.mark.parametrize("name", NAMES)
def test_spec_words_and_source_agree_with_the_code(name):
    """A label, a one-line summary, and a source whose authors and year the code's own docstrings
    (function or module) cite."""
    import sys

    spec = SPECS[name]
    assert spec.label and spec.summary and "\n" not in spec.summary and spec.label in spec.words()
    if spec.source is None:
        assert name == "random"
        return
    doc = (inspect_doc(spec.fn) + (sys.modules[spec.fn.__module__].__doc__ or ""))
    assert spec.source.authors.split(" et al.")[0].split(" & ")[0] in doc
    assert str(spec.source.year) in doc
    assert str(spec.source) in spec.help()


def inspect_doc(fn) -> str:
    import inspect
    return inspect.getdoc(fn) or ""
