"""The Learn page's playground: a round's grid, selections and figures match direct calls of the
library on the same state; frames follow BAIT's greedy steps; bad settings raise sentences."""

import numpy as np
import pytest

from bait_core import STRATEGIES, bait_select
from bait_core.learning.outputs import compute_outputs
from bait_core.learning.playground import Playground, PlaygroundSettings
from bait_core.viz.playground import bait_animation, comparison_figure, decision_background, frame_names

SMALL = dict(n_points=200, initial=10, batch_size=4, seed=3)


@pytest.fixture(scope="module")
def played():
    """A moons playground after two rounds (BADGE as the comparison)."""
    pg = Playground.start(toy="moons", compare_with="badge", **SMALL)
    pg.step()
    pg.step()
    return pg


@pytest.fixture(scope="module")
def spirals():
    """A 3-class spirals playground after one round (entropy as the comparison)."""
    pg = Playground.start(toy="spirals", n_classes=3, compare_with="entropy", **SMALL)
    pg.step()
    return pg


def test_round_shapes_and_reveal(played):
    pg = played
    ds = pg.dataset
    N, K, G = ds.X.shape[0], len(ds.classes), pg.settings.grid
    assert len(pg.rounds) == 2
    r0, r1 = pg.rounds
    assert r1.grid_probs.shape == (G, G, K) and r1.grid_x.shape == (G,) and r1.grid_y.shape == (G,)
    assert np.allclose(r1.grid_probs.sum(-1), 1.0, atol=1e-5)
    assert r1.probs.shape == (N, K) and r1.embeddings.shape == (N, pg.settings.hidden)
    # the grid covers every pool and test point
    pts = np.concatenate([ds.xy2d, ds.xy2d_test])
    assert r1.grid_x[0] < pts[:, 0].min() and r1.grid_x[-1] > pts[:, 0].max()
    assert r1.grid_y[0] < pts[:, 1].min() and r1.grid_y[-1] > pts[:, 1].max()
    # round 0 trained on the initial set; its BAIT picks are labeled before round 1, and only those
    assert r0.n_labeled == SMALL["initial"] and r1.n_labeled == SMALL["initial"] + SMALL["batch_size"]
    revealed = r1.labeled_before & ~r0.labeled_before
    assert set(np.flatnonzero(revealed)) == set(r0.bait.indices.tolist())
    assert pg.n_labeled == r1.n_labeled + SMALL["batch_size"]
    assert 0.0 <= r1.accuracy <= 1.0
    assert r0.bait.n_forward == 2 * SMALL["batch_size"] and r0.bait.indices.size == SMALL["batch_size"]


def test_outputs_are_the_trained_models(played):
    """The stored embeddings/probabilities are the final model's (which holds round 1's weights)."""
    pg = played
    r1 = pg.rounds[-1]
    out = compute_outputs(pg.model, pg.dataset.X, task="classification", device="cpu")
    np.testing.assert_allclose(out.embeddings, r1.embeddings, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.probs, r1.probs, rtol=1e-5, atol=1e-6)


def test_bait_picks_equal_a_direct_call(played):
    for rnd in played.rounds:
        direct = bait_select(rnd.embeddings, rnd.probs, rnd.labeled_before, SMALL["batch_size"], record_steps=True)
        np.testing.assert_array_equal(rnd.bait.indices, direct.indices)
        np.testing.assert_array_equal(rnd.bait.pruned, direct.pruned)
        np.testing.assert_array_equal(rnd.bait.forward_indices, direct.forward_indices)
        np.testing.assert_allclose(rnd.bait.objective, direct.objective, rtol=1e-10)
        np.testing.assert_allclose(rnd.bait.step_scores, direct.step_scores, rtol=1e-10, equal_nan=True)
        assert rnd.bait.step_scores.shape == (rnd.bait.n_forward, played.dataset.X.shape[0])


def test_comparison_picks_equal_a_direct_call(played, spirals):
    for pg, name in ((played, "badge"), (spirals, "entropy")):
        for rnd in pg.rounds:
            assert rnd.other.strategy == name
            direct = STRATEGIES[name](rnd.embeddings, rnd.probs, rnd.labeled_before, SMALL["batch_size"],
                                      seed=SMALL["seed"] * 1000 + rnd.round)
            np.testing.assert_array_equal(rnd.other.indices, direct.indices)
            assert rnd.overlap == len(set(rnd.other.indices.tolist()) & set(rnd.bait.indices.tolist()))
    # entropy takes the B most uncertain unlabeled points
    rnd = spirals.rounds[0]
    H = -(rnd.probs * np.log(np.clip(rnd.probs, 1e-30, None))).sum(1)
    H[rnd.labeled_before] = -np.inf
    assert set(rnd.other.indices.tolist()) == set(np.argsort(-H)[:SMALL["batch_size"]].tolist())


def test_set_compare_recomputes_every_round():
    pg = Playground.start(toy="moons", compare_with="badge", **SMALL)
    pg.step()
    pg.step()
    bait_before = [r.bait.indices.copy() for r in pg.rounds]
    pg.set_compare("entropy")
    assert pg.settings.compare_with == "entropy"
    for rnd, b in zip(pg.rounds, bait_before):
        assert rnd.other.strategy == "entropy"
        np.testing.assert_array_equal(rnd.bait.indices, b)
        direct = STRATEGIES["entropy"](rnd.embeddings, rnd.probs, rnd.labeled_before, SMALL["batch_size"])
        np.testing.assert_array_equal(rnd.other.indices, direct.indices)
    with pytest.raises(ValueError, match="Compare with"):
        pg.set_compare("coreset")
    assert pg.settings.compare_with == "entropy"


def test_grid_colours_follow_the_model(spirals):
    """The background is the model's own prediction: grid probabilities equal a forward pass over the
    grid's features, the heatmap's class band is the argmax, and pool points mostly share the predicted
    class of their grid cell."""
    pg = spirals
    rnd = pg.rounds[-1]
    ds = pg.dataset
    XX, YY = np.meshgrid(rnd.grid_x, rnd.grid_y)
    out = compute_outputs(pg.model, ds.xy_to_features(np.stack([XX.ravel(), YY.ravel()], 1)),
                          task="classification", device="cpu")
    np.testing.assert_allclose(out.probs.reshape(rnd.grid_probs.shape), rnd.grid_probs, rtol=1e-5, atol=1e-6)
    heat = decision_background(rnd.grid_x, rnd.grid_y, rnd.grid_probs, ds.classes)[0]
    z = np.asarray(heat.z)
    np.testing.assert_array_equal(np.floor(z).astype(int), rnd.grid_probs.argmax(-1))
    assert heat.zmin == 0 and heat.zmax == len(ds.classes)
    # nearest grid cell of each pool point
    j = np.abs(ds.xy2d[:, 0][:, None] - rnd.grid_x[None]).argmin(1)
    i = np.abs(ds.xy2d[:, 1][:, None] - rnd.grid_y[None]).argmin(1)
    agree = np.mean(rnd.grid_probs.argmax(-1)[i, j] == rnd.predictions)
    assert agree > 0.9, agree
    assert len(set(rnd.grid_probs.argmax(-1).ravel().tolist())) >= 2, "the model draws more than one region"


def _stars(frame_trace) -> list[int]:
    return [int(v) for v in np.asarray(frame_trace.customdata)[:, 0]] if len(frame_trace.x) else []


def test_animation_frames_follow_the_greedy_steps(played):
    pg = played
    ds = pg.dataset
    rnd = pg.rounds[-1]
    sel = rnd.bait
    T, R = sel.n_forward, sel.pruned.size
    fig = bait_animation(ds.xy2d, ds.y, ds.classes, rnd)
    assert len(fig.frames) == rnd.n_frames == 1 + T + R
    assert [f.name for f in fig.frames] == frame_names(sel)
    assert len(fig.layout.sliders[0].steps) == len(fig.frames)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "❚❚ Pause"]
    assert all(tr.type != "scattergl" for tr in fig.data)
    U = np.flatnonzero(~rnd.labeled_before)
    for t in range(1, T + 1):
        pool, stars, pruned = fig.frames[t].data
        assert _stars(stars) == [int(v) for v in sel.forward_indices[:t]]
        assert len(pruned.x) == 0
        # the colour is the step's gain ÷ its maximum, and the newest star is the brightest point
        colour = np.asarray(pool.marker.color, dtype=np.float64)
        gains = sel.step_scores[t - 1][U]
        np.testing.assert_allclose(colour, np.nan_to_num(gains / np.nanmax(gains)), rtol=1e-5, atol=1e-6)
        assert U[int(np.argmax(colour))] == sel.forward_indices[t - 1]
    for r in range(1, R + 1):
        _, stars, pruned = fig.frames[T + r].data
        assert _stars(pruned) == [int(v) for v in sel.pruned[:r]]
        assert set(_stars(stars)) == set(sel.forward_indices.tolist()) - set(sel.pruned[:r].tolist())
    # the figure opens on the last frame: the kept batch and every pruned point
    stars, pruned = fig.data[-2], fig.data[-1]
    assert set(_stars(stars)) == set(sel.indices.tolist()) and _stars(pruned) == [int(v) for v in sel.pruned]
    assert fig.layout.sliders[0].active == len(fig.frames) - 1
    # the start frame shows no stars
    assert len(fig.frames[0].data[1].x) == 0


def test_comparison_figure_marks_both_strategies(played):
    ds = played.dataset
    rnd = played.rounds[0]
    fig = comparison_figure(ds.xy2d, ds.y, ds.classes, rnd)
    by_name = {tr.name: tr for tr in fig.data}
    other = by_name["badge's picks (pick no.)"]
    np.testing.assert_array_equal(np.asarray(other.customdata)[:, 0].astype(int), rnd.other.indices)
    assert list(other.text) == [str(i + 1) for i in range(rnd.other.indices.size)]
    np.testing.assert_array_equal(np.asarray(by_name["BAIT's picks (same round)"].customdata).astype(int),
                                  rnd.bait.indices)


def test_same_settings_same_rounds():
    a = Playground.start(toy="blobs", n_classes=4, **SMALL)
    b = Playground.start(toy="blobs", n_classes=4, **SMALL)
    ra, rb = a.step(), b.step()
    np.testing.assert_array_equal(ra.bait.indices, rb.bait.indices)
    np.testing.assert_array_equal(ra.other.indices, rb.other.indices)
    np.testing.assert_allclose(ra.grid_probs, rb.grid_probs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(toy="swissroll"), "Unknown toy set"),
    (dict(toy="moons", n_classes=3), "always has 2 classes"),
    (dict(n_points=40, initial=35), "must be smaller than the pool"),
    (dict(n_points=40, initial=25, batch_size=10), "cannot hold"),
    (dict(noise=-0.1), "Noise must be a number from 0"),
    (dict(noise=float("nan")), "Noise must be a number from 0"),
    (dict(batch_size=0), "The batch size must be a whole number from 1"),
    (dict(n_points=10_000), "The number of points must be a whole number from 40 to 2000"),
    (dict(initial=2.5), "The initial labeled set must be a whole number"),
    (dict(compare_with="coreset"), "Compare with must be one of"),
    (dict(toy="blobs", n_classes=10, n_points=60, initial=5), "too few for 10 classes"),
])
def test_bad_settings_raise_sentences(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Playground.start(**kwargs)


def test_exhausted_pool_raises_and_keeps_state():
    pg = Playground.start(toy="moons", n_points=40, initial=20, batch_size=10, seed=1)
    pg.step()                      # 30 pool points: 20 + 10 labeled, none left
    assert pg.finished and len(pg.rounds) == 1
    mask = pg.mask.copy()
    with pytest.raises(ValueError, match="Every pool point is labeled"):
        pg.step()
    assert len(pg.rounds) == 1 and np.array_equal(pg.mask, mask)


def test_last_round_batch_is_capped_by_the_pool():
    pg = Playground.start(toy="moons", n_points=40, initial=22, batch_size=5, seed=1)   # pool 30
    pg.step()
    rnd = pg.step()                # 3 unlabeled left, batch 5 → 3
    assert rnd.bait.indices.size == 3 and rnd.other.indices.size == 3 and pg.finished


def test_settings_validate_directly():
    PlaygroundSettings().validate()
    with pytest.raises(ValueError, match="The seed must be"):
        PlaygroundSettings(seed=-1).validate()
