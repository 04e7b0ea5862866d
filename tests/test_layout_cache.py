"""The disk cache of the inputs' UMAP maps (bait_core.viz.layout_cache), the layout store reading and
writing it, the server-start warm-up's order (bait_core.service.warmup.warm_layouts) and the CLI's
`layouts`. UMAP itself is faked here (tests/test_projection.py runs the real one)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from bait_core.viz import layout_cache as lc
from bait_core.viz.layout_cache import LayoutCache, cache_dir, file_name, input_names, input_umap_params
from bait_core.viz.projection import LayoutStore


def _layout(n=50, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32)


def test_round_trip_is_float32_read_only_and_equal(tmp_path):
    cache = LayoutCache(tmp_path / "c")
    Y = _layout()
    assert cache.load("umap-x-1", 50) is None                      # nothing yet, folder missing: no error
    assert cache.save("umap-x-1", Y)
    got = cache.load("umap-x-1", 50)
    assert got.dtype == np.float32 and got.shape == (50, 2) and not got.flags.writeable
    np.testing.assert_array_equal(got, Y)
    assert [p.name for p in cache.files()] == ["umap-x-1.npy"]
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.endswith(".tmp")]   # no temporary left


@pytest.mark.parametrize("bad", ["nan", "inf", "shape", "dtype", "garbage", "empty", "pickle", "npz", "huge"])
def test_a_bad_file_is_ignored_and_replaced(tmp_path, bad):
    cache = LayoutCache(tmp_path)
    p = cache.path("umap-bad")
    Y = _layout()
    if bad == "nan":
        Z = Y.copy(); Z[3, 1] = np.nan; np.save(p, Z)
    elif bad == "inf":
        Z = Y.copy(); Z[0, 0] = np.inf; np.save(p, Z)
    elif bad == "shape":
        np.save(p, _layout(49))                                    # another pool size
    elif bad == "dtype":
        np.save(p, Y.astype(np.float64))
    elif bad == "garbage":
        p.write_bytes(b"\x93NUMPY\x01\x00garbage" * 5)
    elif bad == "empty":
        p.write_bytes(b"")
    elif bad == "pickle":
        np.save(p, np.array([{"a": 1}] * 100, dtype=object), allow_pickle=True)
    elif bad == "npz":
        np.savez(p.with_suffix(".npz"), Y); os.replace(p.with_suffix(".npz"), p)
    elif bad == "huge":                                            # larger than any 50-point layout
        np.save(p, _layout(5000))
    assert cache.load("umap-bad", 50) is None
    assert cache.save("umap-bad", Y)                               # recomputed and written over it
    np.testing.assert_array_equal(cache.load("umap-bad", 50), Y)


def test_save_refuses_a_layout_that_is_not_finite_n_by_2(tmp_path):
    cache = LayoutCache(tmp_path)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        cache.save("umap-a", np.zeros((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        cache.save("umap-a", np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="letters, digits"):
        cache.path("../escape")
    assert cache.files() == []


def test_the_name_changes_with_every_input_of_the_layout(monkeypatch):
    base = input_umap_params(0)
    name = file_name("abc123", "input", "UMAP", base)
    assert name == file_name("abc123", "input", "UMAP", dict(base))     # stable
    others = {file_name("abc124", "input", "UMAP", base), file_name("abc123", "embeddings", "UMAP", base),
              file_name("abc123", "input", "PCA", base), file_name("abc123", "input", "UMAP", input_umap_params(1))}
    for k, v in (("n_neighbors", 30), ("min_dist", 0.2), ("pre_pca_dims", 20), ("init", "spectral")):
        others.add(file_name("abc123", "input", "UMAP", {**base, k: v}))
    monkeypatch.setattr(lc, "umap_version", lambda: "9.9.9")
    others.add(file_name("abc123", "input", "UMAP", input_umap_params(0)))
    assert name not in others and len(others) == 9
    assert input_names("abc123")[2] == file_name("abc123", "input", "UMAP", input_umap_params(0))


def test_the_folder_beside_the_runs_folder_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(lc.CACHE_ENV, raising=False)
    assert cache_dir(tmp_path / "runs") == tmp_path / "layout-cache"
    monkeypatch.setenv(lc.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert cache_dir(tmp_path / "runs") == tmp_path / "elsewhere"


def test_an_unwritable_folder_means_no_cache_said_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    said = []
    cache = LayoutCache(blocker / "layouts", log=said.append)      # cannot be created: a file is in the way
    assert cache.save("umap-a", _layout()) is False
    assert cache.save("umap-b", _layout()) is False
    assert cache.load("umap-a", 50) is None
    assert len(said) == 1 and "cannot write" in said[0] and lc.CACHE_ENV in said[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_means_no_cache(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        said = []
        assert LayoutCache(ro, log=said.append).save("umap-a", _layout()) is False
        assert len(said) == 1
    finally:
        ro.chmod(0o700)


def test_a_permission_error_means_no_cache(tmp_path, monkeypatch):
    """What a read-only folder does for a user that is not root (the test above is skipped as root)."""
    said = []

    def denied(*a, **kw):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(lc.tempfile, "mkstemp", denied)
    assert LayoutCache(tmp_path, log=said.append).save("umap-a", _layout()) is False
    assert len(said) == 1 and "Permission denied" in said[0]


def test_a_full_disk_means_no_cache(tmp_path, monkeypatch):
    said = []
    cache = LayoutCache(tmp_path, log=said.append)

    def full(*a, **kw):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(lc.np, "save", full)
    assert cache.save("umap-a", _layout()) is False
    assert "No space left" in said[0]
    assert list(tmp_path.iterdir()) == []                          # the temporary file is gone too


def test_the_least_recently_used_files_go_beyond_the_bound(tmp_path):
    cache = LayoutCache(tmp_path, max_files=3)
    for i in range(3):
        assert cache.save(f"umap-{i}", _layout(seed=i))
        os.utime(cache.path(f"umap-{i}"), (1000 + i, 1000 + i))
    assert cache.load("umap-0", 50) is not None                     # used: now the most recent
    assert cache.save("umap-3", _layout(seed=3))
    assert sorted(p.name for p in cache.files()) == ["umap-0.npy", "umap-2.npy", "umap-3.npy"]
    small = LayoutCache(tmp_path / "b", max_bytes=1000)            # one 50-point file is ≈ 530 bytes
    small.save("umap-a", _layout()); small.save("umap-b", _layout())
    assert [p.name for p in small.files()] == ["umap-b.npy"]


# --- the layout store with a disk cache --------------------------------------------------------------

class CountingUmap:
    def __init__(self):
        self.calls = 0

    def __call__(self, X, seed=0, init=None):
        self.calls += 1
        return np.asarray(init if init is not None else np.zeros((len(X), 2)), dtype=np.float32) * 2 + 1


def _pca(X, seed=0):
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)[:, :2]


def test_the_store_writes_a_named_layout_and_a_new_store_reads_it(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    fake = CountingUmap()
    store = LayoutStore(pca_fn=_pca, umap_fn=fake)
    store.disk = LayoutCache(tmp_path)
    P = store.pca_now("p", X)
    assert store.umap_async("u", X, init=P, disk_name="umap-data")
    assert store.wait("u", 30) == "ready" and store.source("u") == "computed"
    assert fake.calls == 1 and [p.name for p in store.disk.files()] == ["umap-data.npy"]
    assert store.umap_async("emb", X, init=P) and store.wait("emb", 30) == "ready"   # no name: memory only
    assert len(store.disk.files()) == 1
    # a restarted server: a new store on the same folder draws it at once, without computing
    again = LayoutStore(pca_fn=_pca, umap_fn=fake)
    again.disk = LayoutCache(tmp_path)
    assert again.umap_async("u", X, init=P, disk_name="umap-data") is False
    assert again.status("u") == "ready" and again.source("u") == "disk" and fake.calls == 2
    np.testing.assert_array_equal(again.get("u"), store.get("u"))
    # a file for another pool size is not this layout: computed again
    assert again.umap_async("u2", X[:30], init=P[:30], disk_name="umap-data")
    assert again.wait("u2", 30) == "ready" and again.source("u2") == "computed" and fake.calls == 3


def test_a_broken_disk_object_never_breaks_the_store(tmp_path):
    class Broken:
        def load(self, name, n):
            raise RuntimeError("disk on fire")

        def save(self, name, Y):
            raise RuntimeError("disk on fire")
    store = LayoutStore(pca_fn=_pca, umap_fn=CountingUmap())
    store.disk = Broken()
    X = np.ones((10, 2), np.float32) * np.arange(10)[:, None]
    assert store.umap_async("u", X, disk_name="umap-x")
    assert store.wait("u", 30) == "ready"


# --- the server-start warm-up -----------------------------------------------------------------------

class SlowUmap(CountingUmap):
    def __init__(self, delay=0.2):
        super().__init__()
        self.delay, self.order = delay, []

    def __call__(self, X, seed=0, init=None):
        self.order.append(len(X))
        time.sleep(self.delay)
        return super().__call__(X, seed=seed, init=init)


def test_warm_layouts_default_first_then_the_others_each_written_then_read(tmp_path):
    from bait_core.learning.data import load_builtin
    from bait_core.service.warmup import warm_layouts

    fake = SlowUmap(0.05)
    store = LayoutStore(pca_fn=_pca, umap_fn=fake)
    store.disk = LayoutCache(tmp_path)
    lines = []
    out = warm_layouts(store, default="digits", others=["diabetes", "digits"], log=lines.append)
    assert [(n, how) for n, how, _ in out] == [("digits", "computed"), ("diabetes", "computed")]
    assert fake.order == [len(load_builtin("digits").X), 40, len(load_builtin("diabetes").X)]   # 40: warm-up fit
    assert len(store.disk.files()) == 2 and len(lines) == 2 and "digits UMAP computed" in lines[0]
    # the next server: both from disk, nothing computed but the warm-up fit
    store2 = LayoutStore(pca_fn=_pca, umap_fn=fake)
    store2.disk = LayoutCache(tmp_path)
    out2 = warm_layouts(store2, default="digits", others=["diabetes"])
    assert [(n, how) for n, how, _ in out2] == [("digits", "disk"), ("diabetes", "disk")]
    assert fake.order[3:] == [40]
    ds = load_builtin("digits")
    assert store2.status(input_names(ds.fingerprint)[1]) == "ready"


def test_warm_layouts_waits_for_what_a_page_asked_for(tmp_path):
    """A layout someone asked for (e.g. a model's embeddings) runs first; the lower-priority built-in
    maps start only when the store is idle, the default demo's map at once."""
    from bait_core.service.warmup import warm_layouts

    gate = threading.Event()
    fake = SlowUmap(0.0)

    def umap(X, seed=0, init=None):
        if len(X) == 7:                                            # the page's job: held until the gate opens
            gate.wait(10)
        return fake(X, seed=seed, init=init)
    store = LayoutStore(pca_fn=_pca, umap_fn=umap)
    store.disk = LayoutCache(tmp_path)
    assert store.umap_async("model", np.arange(21, dtype=np.float32).reshape(7, 3))
    done = []
    t = threading.Thread(target=lambda: done.extend(warm_layouts(store, default="diabetes", others=["digits"],
                                                                 idle_poll_s=0.05)))
    t.start()
    deadline = time.monotonic() + 20
    while len(store.disk.files()) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    assert len(store.disk.files()) == 1 and not done and store.status("model") == "running"
    gate.set()
    t.join(20)
    assert [(n, how) for n, how, _ in done] == [("diabetes", "computed"), ("digits", "computed")]
    assert fake.order[-1] == len(__import__("bait_core.learning.data", fromlist=["x"]).load_builtin("digits").X)


# --- the CLI: python -m bait_core layouts --------------------------------------------------------------

def test_cli_layouts_computes_then_finds(tmp_path, monkeypatch, capsys):
    from bait_core.__main__ import main

    calls = []

    def fake(X, seed=0):
        calls.append(len(X))
        return np.zeros((len(X), 2), np.float32) + np.arange(len(X), dtype=np.float32)[:, None]
    monkeypatch.setattr(lc, "input_umap", fake)
    folder = tmp_path / "cache"
    assert main(["layouts", "--datasets", "diabetes,digits", "--cache-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"layout cache: {folder}" in out and "diabetes" in out and out.count("computed in") == 2
    assert len(calls) == 2 and len(list(folder.glob("*.npy"))) == 2
    assert main(["layouts", "--datasets", "diabetes,digits", "--cache-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("found in the cache") == 2 and len(calls) == 2
    # the app finds the same files: beside the runs folder, by the same names
    monkeypatch.delenv(lc.CACHE_ENV, raising=False)
    runs = tmp_path / "runs"
    assert main(["layouts", "--datasets", "diabetes", "--runs-dir", str(runs)]) == 0
    assert [p.parent for p in (tmp_path / "layout-cache").glob("*.npy")] == [tmp_path / "layout-cache"]


def test_cli_layouts_refuses_what_has_no_umap_map(tmp_path, capsys):
    from bait_core.__main__ import main

    assert main(["layouts", "--datasets", "moons", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --datasets: 'moons'") and "digits" in err and err.count("\n") == 1
    (tmp_path / "file").write_text("x")
    assert main(["layouts", "--datasets", "digits", "--cache-dir", str(tmp_path / "file" / "c")]) == 2
    assert "cannot create the layout cache folder" in capsys.readouterr().err


def test_warm_layouts_hands_the_others_elsewhere_and_a_page_reads_them_from_disk(tmp_path, monkeypatch):
    """The app computes the lower-priority maps in its layout worker (precompute_one: the dataset is
    loaded there); the server's store then reads them from disk when a page asks."""
    from bait_core.learning.data import load_builtin
    from bait_core.service.warmup import warm_layouts

    calls = []
    monkeypatch.setattr(lc, "input_umap", lambda X, seed=0: calls.append(len(X)) or np.ones((len(X), 2), np.float32))
    fake = SlowUmap(0.0)
    store = LayoutStore(pca_fn=_pca, umap_fn=fake)
    store.disk = LayoutCache(tmp_path)
    handed = []

    def elsewhere(name, seed):
        handed.append(name)
        how, seconds, saved = lc.precompute_one(str(tmp_path), name, seed)
        assert saved and seconds >= 0
        return "disk" if how == "cache" else how
    out = warm_layouts(store, default="diabetes", others=["digits"], elsewhere=elsewhere)
    n = len(load_builtin("digits").X)
    assert [(d, how) for d, how, _ in out] == [("diabetes", "computed"), ("digits", "computed")]
    assert handed == ["digits"] and calls == [n] and fake.order == [len(load_builtin("diabetes").X), 40]
    _, ukey, fname = input_names(load_builtin("digits").fingerprint)
    assert store.status(ukey) == "missing"                          # not in the server's memory ...
    assert store.umap_async(ukey, np.zeros((n, 64), np.float32), disk_name=fname) is False
    assert store.source(ukey) == "disk"                             # ... but on disk for the page
    assert lc.precompute_one(str(tmp_path), "digits", 0)[0] == "cache" and calls == [n]


# --- the app: the Rounds page's first map -----------------------------------------------------------

def test_the_rounds_pages_first_map_is_the_umap_from_the_disk_cache(tmp_path, monkeypatch):
    """A restarted server: the demo's UMAP map is in the cache, so the very first page run draws it
    (no round needed, no wait); with UMAP off the page keeps PCA and never waits for UMAP."""
    import json

    import app_services as svc
    from bait_core.learning.data import load_builtin
    from bait_core.viz.projection import LAYOUTS
    from tests.app_helpers import assert_ok, open_app

    ds = load_builtin("digits", seed=0)
    _, ukey, fname = input_names(ds.fingerprint)
    Y = np.random.default_rng(3).normal(size=(len(ds.X), 2)).astype(np.float32)
    assert LayoutCache(tmp_path).save(fname, Y)
    monkeypatch.setenv(lc.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(svc, "start_warm_layouts", lambda: None)     # no worker process in unit tests
    done = threading.Thread(target=lambda: None)
    done.start()
    monkeypatch.setattr(svc, "start_warm_compute", lambda: done)      # nor a torch round left at exit
    monkeypatch.setattr(LAYOUTS, "disk", None)

    def first_map(at):
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        maps = [c for c in charts if any(t.get("type") == "scattergl" for t in c["data"])]
        return maps[0]
    try:
        monkeypatch.setenv("BAIT_EXPLORER_NO_UMAP", "1")
        at = open_app()
        assert_ok(at)
        assert "PCA layout, before round 0" in json.dumps(first_map(at)["layout"]["title"])
        monkeypatch.delenv("BAIT_EXPLORER_NO_UMAP")
        at = open_app()
        assert_ok(at)
        spec = first_map(at)
        assert "UMAP layout, before round 0" in json.dumps(spec["layout"]["title"])
        assert LAYOUTS.source(ukey) == "disk"
        np.testing.assert_array_equal(LAYOUTS.get(ukey), Y)
        def values(x):                                              # plotly's binary arrays: {'dtype', 'bdata'}
            import base64
            if isinstance(x, dict):
                return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
            return np.asarray(x, dtype=np.float64)
        xs = np.concatenate([values(t["x"]) for t in spec["data"] if t.get("x") is not None])
        assert xs.size >= len(Y) and np.isin(np.round(xs, 4), np.round(Y[:, 0].astype(np.float64), 4)).all()
    finally:
        LAYOUTS.clear()
