"""Loader hardening: every fault a user's file can cause is a sentence, quickly, in bounded memory.

Corrupt / encrypted / exotic ZIP members, broken .npy headers, zero-width arrays, the image pixel
budget and dataset cap, the table's one-hot width cap, shortened quotes of huge values, UTF-16 CSVs and
European number formats."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import numpy as np
import psutil
import pytest
from PIL import Image

from bait_core.learning import data as D
from bait_core.learning.data import load_file
from bait_core.learning.reading import ReadOptions
from tests.test_cli import assert_one_line_error, run_cli
from tests.test_image_limits import _zip




def _corrupt(blob: bytes) -> bytes:
    """Flip bytes inside every member's deflate stream (the directory stays valid)."""
    b = bytearray(blob)
    for info in zipfile.ZipFile(io.BytesIO(blob)).infolist():
        off = info.header_offset + 30 + len(info.filename) + len(info.extra)
        for i in range(off + 2, off + min(info.compress_size, 40)):
            b[i] ^= 0x55
    return bytes(b)


def _set_flags(blob: bytes, method=None, flags=None) -> bytes:
    """Rewrite every member's compression method / general-purpose flags (local and central headers)."""
    b = bytearray(blob)
    for info in zipfile.ZipFile(io.BytesIO(blob)).infolist():
        if method is not None:
            struct.pack_into("<H", b, info.header_offset + 8, method)
        if flags is not None:
            struct.pack_into("<H", b, info.header_offset + 6, flags)
    cd = bytes(b).find(b"PK\x01\x02")
    while cd != -1:
        if method is not None:
            struct.pack_into("<H", b, cd + 10, method)
        if flags is not None:
            struct.pack_into("<H", b, cd + 8, flags)
        cd = bytes(b).find(b"PK\x01\x02", cd + 4)
    return bytes(b)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _png(value: int, size=(8, 8), mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value if mode == "L" else (value, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def _images() -> bytes:
    return _zip({f"{c}/{i}.png": _png(20 * i + (7 if c == "b" else 0)) for c in "ab" for i in range(12)})


def _npz_stored() -> bytes:
    buf = io.BytesIO()
    X, y = np.random.default_rng(0).random((50, 4)), np.arange(50) % 2
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for k, a in (("X", X), ("y", y)):
            b = io.BytesIO()
            np.save(b, a)
            zf.writestr(f"{k}.npy", b.getvalue())
    return buf.getvalue()


def _refused(raw: bytes, filename: str, *fragments: str, seconds: float = 3.0, mb: float = 300, **kw) -> str:
    """load_file refuses with a ValueError holding the fragments, within `seconds` and `mb` of extra RSS."""
    proc = psutil.Process()
    before = proc.memory_info().rss
    t = time.perf_counter()
    with pytest.raises(ValueError) as e:
        load_file(raw, filename=filename, **kw)
    assert time.perf_counter() - t < seconds
    assert (proc.memory_info().rss - before) / 2**20 < mb
    msg = str(e.value)
    for frag in fragments:
        assert frag in msg, msg
    assert len(msg) < 2000
    return msg


# 1. ZIP members that cannot be read ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["npz", "zip"])
@pytest.mark.parametrize("damage,fragment", [
    (_corrupt, "its data are damaged"),
    (lambda b: _set_flags(b, method=99), "compression method"),
    (lambda b: _set_flags(b, flags=1), "encrypted"),
])
def test_unreadable_zip_members_are_a_sentence_naming_the_member(kind, damage, fragment):
    if kind == "npz":
        raw = _npz(X=np.random.default_rng(0).random((50, 4)), y=np.arange(50) % 2)
        raw = damage(raw if damage is _corrupt else _npz_stored())
        member = "X.npy"
    else:
        raw = _images()
        raw = damage(raw if damage is _corrupt else _images_stored())
        member = "a/0.png"
    _refused(raw, f"bad.{kind}", f"'bad.{kind}': could not extract '{member}'", fragment)


def _images_stored() -> bytes:
    return _zip({f"{c}/{i}.png": _png(20 * i + (7 if c == "b" else 0)) for c in "ab" for i in range(12)},
                zipfile.ZIP_STORED)


def test_cli_run_on_a_corrupt_npz_is_one_line(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(_corrupt(_npz(X=np.random.default_rng(0).random((50, 4)), y=np.arange(50) % 2)))
    res = run_cli("run", "--data", path, "--rounds", "1", "--initial", "10", "--batch-size", "5", "--quiet")
    assert_one_line_error(res, "could not extract 'X.npy'")


# 2. .npy headers and empty arrays --------------------------------------------------------------

@pytest.mark.parametrize("header", [
    b"{'descr': '<f8', 'shape': ((",              # tokenize.TokenError in numpy's parser
    b"{'descr': '<f8', 'shape': (1,) +",          # SyntaxError
    b"{'descr': 5, 'fortran_order': False, 'shape': (3,)}",   # TypeError / ValueError
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",   # nesting
])
def test_unparsable_npy_header_is_a_sentence(header):
    r = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + header.ljust(117) + b"\n"
    _refused(_zip({"X.npy": r, "y.npy": r}, zipfile.ZIP_STORED), "e.npz", "'e.npz': 'X.npy' is not a readable .npy")


def test_zero_width_features_are_refused():
    _refused(_npz(X=np.zeros((20, 0)), y=np.arange(20) % 2), "z.npz", "X has shape (20, 0)", "no features")


# 3. image pixel budget and dataset cap ---------------------------------------------------------

def test_tiny_images_read_at_a_large_size_are_refused_before_decoding():
    """2,000 1×1 colour PNGs at 256×256: 2,000 × 3 × 65,536 × 5 bytes = 2 GB > the 1.5 GB cap."""
    p = [_png(200, (1, 1), "RGB"), _png(10, (1, 1), "RGB")]
    raw = _zip({f"{'ab'[i % 2]}/{i}.png": p[i % 2] for i in range(2000)})
    msg = _refused(raw, "tiny.zip", "2,000 images of 256×256 pixels", "fewer images", "smaller image size",
                   image_size=(256, 256))
    assert "GB" in msg


def test_pixel_budget_charges_the_target_size(monkeypatch):
    """1×1 images resized to 16×16 cost 256 pixels each, not 1."""
    monkeypatch.setattr("bait_core.learning.data.images.MAX_ARCHIVE_PIXELS", 10 * 16 * 16)
    raw = _zip({f"{c}/{i}.png": _png(10 * i, (1, 1)) for c in "ab" for i in range(8)})
    _refused(raw, "up.zip", "would bring the images' total to", image_size=(16, 16))


def test_image_dataset_within_the_cap_loads_with_views_not_copies():
    ds = load_file(_images(), filename="ok.zip", image_size=(8, 8))
    assert ds.X.shape[1:] == (1, 8, 8) and len(ds.X) + len(ds.X_test) == 24
    assert ds.images.shape[1:] == (8, 8)


# 4. table one-hot width ------------------------------------------------------------------------

def test_wide_one_hot_table_is_refused_before_the_matrix_is_built():
    """20,000 rows × 60 text columns of 50 categories = 60 million values > the 50 million cap."""
    cats = [f"c{i}" for i in range(50)]
    header = ",".join([f"t{j}" for j in range(60)] + ["label"])
    rows = [",".join([cats[(i * 7 + j) % 50] for j in range(60)] + [str(i % 2)]) for i in range(20_000)]
    raw = "\n".join([header, *rows]).encode()
    _refused(raw, "cat.csv", "3,000 features", "the limit is 50 million", "'t0' (50 features)", "'ignored'")


def test_one_hot_matches_the_old_encoding():
    raw = b"colour,n,label\n" + b"".join(f"{'rgb'[i % 3]},{i},{i % 2}\n".encode() for i in range(40)) + b",41,1\n"
    ds = load_file(raw, filename="t.csv", standardize=False)
    names = list(ds.feature_names)
    assert names == ["colour=b", "colour=g", "colour=r", "n"]
    X = np.concatenate([ds.X, ds.X_test])
    assert set(np.unique(X[:, :3])) <= {0.0, 1.0}
    assert np.all(X[:, :3].sum(axis=1) <= 1)            # the empty cell: all zeros


# 5. huge values in messages --------------------------------------------------------------------

def test_a_huge_cell_is_quoted_shortened():
    raw = b"a,label\n" + b"x" * (5 << 20) + b",0\n" + b"2,1\n" * 30 + b"3,0\n" * 30
    msg = _refused(raw, "g.csv", "(5,242,880 characters)")
    assert len(msg) < 1000


def test_a_huge_column_name_and_file_name_are_quoted_shortened():
    col = "c" * 100_000
    raw = f"{col},label\n".encode() + "".join(f"v{i},{i % 2}\n" for i in range(60)).encode()   # 60 categories
    msg = _refused(raw, "f" * 5000 + ".csv", "(5,004 characters)", "(100,000 characters)")
    assert len(msg) < 2000


# 6. encodings and European numbers -------------------------------------------------------------

def test_utf16_csv_with_bom_is_read():
    text = "größe,label\n" + "".join(f"{i}.5,{i % 2}\n" for i in range(40))
    ds = load_file(text.encode("utf-16"), filename="u16.csv")
    assert list(ds.feature_names) == ["größe"] and ds.report.encoding.lower().replace("-", "").startswith("utf16")


def test_semicolon_and_decimal_comma_are_honoured():
    text = "x;label\n" + "".join(f"{i},25;{i % 2}\n" for i in range(40))
    ds = load_file(text.encode(), filename="eu.csv", options=ReadOptions(sep=";", decimal=","),
                   standardize=False)
    X = np.sort(np.concatenate([ds.X, ds.X_test])[:, 0])
    assert np.allclose(X, np.arange(40) + 0.25)


# ZIP members elsewhere: run bundles -------------------------------------------------------------

@pytest.mark.parametrize("damage,fragment", [
    (_corrupt, "damaged"),
    (lambda b: _set_flags(b, method=99), "unusual way"),
    (lambda b: _set_flags(b, flags=1), "encrypted"),
])
def test_unreadable_bundle_is_a_sentence_and_leaves_nothing(tmp_path, damage, fragment):
    from bait_core.service.runstore import RunStore
    setup = b'{"x": "' + b"a" * 500 + b'"}'
    raw = _zip({"r1/setup.json": setup, "r1/record.json": setup},
               zipfile.ZIP_DEFLATED if damage is _corrupt else zipfile.ZIP_STORED)
    store = RunStore(tmp_path)
    with pytest.raises(ValueError, match=fragment):
        store.import_bundle(damage(raw))
    assert not any(p.is_dir() for p in tmp_path.iterdir())
