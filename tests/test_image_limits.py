"""Uploads that cost far more to decode than they weigh are refused from their headers, quickly, with a
sentence naming the file inside the archive (issue 9, item 3): pixel bombs, zip bombs, nested archives,
many-frame GIF / TIFF, huge metadata, truncated images, and NPZ headers declaring huge arrays."""

import io
import struct
import time
import warnings
import zipfile
import zlib

import numpy as np
import pytest
import sklearn.model_selection  # noqa: F401  (imported here so the timings below measure loading, not imports)
from PIL import Image

import app_services as svc
from bait_core.learning import data as D
from bait_core.learning.data import load_file


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(w: int, h: int, idat: bytes = b"") -> bytes:
    """A grey 8-bit PNG declaring w×h pixels, with whatever IDAT we like (default: almost nothing):
    the header of a 12000×12000 image costs a few bytes to make."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat or zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b""))


def _png(value: int = 100, size=(8, 8), mode="L", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color=value).save(buf, format="PNG", **save)
    return buf.getvalue()


def _zip(files: dict, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


def _good(n: int = 6) -> dict:
    return {f"{c}/{i}.png": _png(20 * i + (7 if c == "b" else 0)) for c in "ab" for i in range(n)}


def _refused(raw: bytes, match: str, filename: str = "up.zip", **kw) -> str:
    t = time.perf_counter()
    with pytest.raises(ValueError, match=match) as e:
        load_file(raw, filename=filename, image_size=(8, 8), **kw)
    assert time.perf_counter() - t < 2.0, "refused from headers, before any decoding"
    return str(e.value)


# --- pixel bombs ------------------------------------------------------------------------------------

def test_the_issue_zip_of_12000_square_pngs_is_refused_at_once():
    files = {f"{c}/big{i}.png": _png_header(12000, 12000) for c in ("cats", "dogs") for i in range(50)}
    raw = _zip(files)
    assert len(raw) < 60_000
    msg = _refused(raw, r"'cats/big0.png' is 144 megapixels; images over 40 megapixels are refused")
    assert "'up.zip'" in msg


def test_per_image_cap_below_pils_own_limit_names_the_size():
    raw = _zip({**_good(), "a/wide.png": _png_header(9000, 5000)})        # 45 MP: PIL does not even warn
    _refused(raw, r"'a/wide.png' is 9000×5000 = 45 megapixels; images over 40 megapixels are refused")


def test_pils_decompression_bomb_error_and_warning_become_sentences_without_global_state():
    before_limit, before_filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    _refused(_zip({**_good(), "b/huge.png": _png_header(20000, 20000)}), r"'b/huge.png' is 400 megapixels")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                         # no warning escapes either
        _refused(_zip({**_good(), "b/big.png": _png_header(10000, 10000)}), r"'b/big.png' is 100 megapixels")
    assert Image.MAX_IMAGE_PIXELS == before_limit and list(warnings.filters) == before_filters


def test_archive_pixel_budget(monkeypatch):
    monkeypatch.setattr("bait_core.learning.data.images.MAX_ARCHIVE_PIXELS", 5 * 30 * 30)
    files = {f"{c}/{i}.png": _png(10 * i, size=(30, 30)) for c in "ab" for i in range(8)}   # enough for the split, made before decoding
    msg = _refused(_zip(files), r"'a/5.png' would bring the images' total to 0 megapixels; an archive may "
                                r"decode at most")
    assert "'up.zip'" in msg


def test_limits_are_what_the_docs_say():
    import pathlib
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    readme = " ".join(readme.split())                                # the paragraph's line breaks
    assert (f"image at most {D.MAX_IMAGE_PIXELS // 10**6} megapixels" in readme
            and f"a ZIP {D.MAX_ARCHIVE_PIXELS // 10**6} megapixels decoded in all" in readme)
    assert D.MAX_IMAGE_PIXELS < Image.MAX_IMAGE_PIXELS, "ours bites before PIL's (process-wide) warning"


def test_png_with_small_header_and_huge_idat_decodes_only_what_it_declares():
    rows = b"".join(b"\0" + bytes([i % 256]) * 16 for i in range(16))      # 16×16 grey, filter 0
    bomb = zlib.compress(rows + b"\0" * 60_000_000, 9)                     # ~60 MB of zeros after the image
    assert len(bomb) < 200_000
    big = _png_header(16, 16, idat=bomb)
    t = time.perf_counter()
    ds = load_file(_zip({**_good(7), "a/bomb.png": big}), filename="up.zip", image_size=(8, 8))
    assert time.perf_counter() - t < 2.0
    assert ds.X.shape[0] + ds.X_test.shape[0] == 15


def test_truncated_image_is_a_sentence_naming_it():
    whole = _png(50, size=(64, 64), mode="RGB")
    raw = _zip({**_good(), "b/cut.png": whole[: len(whole) // 2]})
    _refused(raw, r"'b/cut.png' is not a readable image")


def test_many_frame_gif_and_tiff_read_only_their_first_frame():
    frames = [Image.new("L", (8, 8), color=i % 256) for i in range(1500)]
    gif, tif = io.BytesIO(), io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    frames[0].save(tif, format="TIFF", save_all=True, append_images=frames[1:1000])
    raw = _zip({**_good(), "a/anim.gif": gif.getvalue(), "b/pages.tif": tif.getvalue()})
    t = time.perf_counter()
    ds = load_file(raw, filename="up.zip", image_size=(8, 8))
    assert time.perf_counter() - t < 2.0
    assert ds.X.shape[0] + ds.X_test.shape[0] == 14


def test_huge_metadata_is_refused_quickly_with_a_sentence_naming_the_file():
    """PIL's own ValueError (an ICC profile over its text-chunk limit) no longer escapes unnamed."""
    rng = np.random.default_rng(0)
    icc = _png(30, icc_profile=rng.bytes(8 * 2**20))                      # 8 MiB ICC profile
    exif = _png(30, exif=b"Exif\0\0" + rng.bytes(8 * 2**20))              # 8 MiB of EXIF junk
    _refused(_zip({**_good(), "a/icc.png": icc}), r"'a/icc.png' is not a readable image \(ValueError: ")
    _refused(_zip({**_good(), "b/exif.png": exif}), r"'b/exif.png' is not a readable image")


# --- zip bombs and archive structure ----------------------------------------------------------------

def test_highly_compressed_member_is_refused_as_a_zip_bomb():
    raw = _zip({**_good(), "a/flat.bmp": b"BM" + b"\0" * (4 * 2**20)})
    _refused(raw, r"'a/flat.bmp' unpacks to 4.0 MiB from .* KiB \(ratio \d+:1\); files over 1 MiB compressed "
                  r"more than 200:1 are refused")


def test_member_over_the_per_image_size_cap(monkeypatch):
    monkeypatch.setattr("bait_core.learning.data.images.MAX_IMAGE_BYTES", 2000)
    raw = _zip({**_good(), "b/large.png": _png(1, size=(64, 64), mode="RGB") + b"\0" * 3000}, zipfile.ZIP_STORED)
    _refused(raw, r"'b/large.png' unpacks to 0.0 MiB; files over 0 MiB inside a ZIP are refused")


def test_declared_sizes_bound_the_work():
    """A member that declares 100 bytes but inflates to 20 MB is cut at 100 bytes (zipfile) and refused."""
    raw = bytearray(_zip({**_good(), "a/liar.png": b"\0" * 20_000_000}))
    cd = raw.rfind(b"PK\x01\x02")                                              # the last member's entry
    assert raw[cd + 46: cd + 46 + 10] == b"a/liar.png"
    raw[cd + 24: cd + 28] = struct.pack("<I", 100)                           # declared uncompressed size
    _refused(bytes(raw), r"'a/liar.png'")


def test_too_many_members(monkeypatch):
    monkeypatch.setattr("bait_core.learning.data.archives.MAX_ARCHIVE_MEMBERS", 20)
    files = {**_good(), **{f"a/x{i}.png": _png(i) for i in range(20)}}
    _refused(_zip(files), r"'up.zip' holds 32 entries; ZIP archives with more than 20 are refused")


def test_declared_entry_count_is_read_from_the_end_record():
    raw = bytearray(_zip(_good()))
    assert D._declared_entries(bytes(raw)) == 12
    eocd = raw.rfind(b"PK\x05\x06")
    raw[eocd + 8: eocd + 12] = struct.pack("<HH", 60000, 60000)
    assert D._declared_entries(bytes(raw)) == 60000


@pytest.mark.parametrize("inner", ["a/more.zip", "b/arrays.npz", "a/x.tar.gz"])
def test_nested_archives_are_refused(inner):
    _refused(_zip({**_good(), inner: _zip(_good())}), rf"'{inner}' is an archive inside the archive; nested "
                                                       r"archives are refused")


def test_folder_upload_goes_through_the_same_limits():
    files = [(f"shapes/{c}/{i}.png", _png(20 * i + (5 if c == "b" else 0))) for c in "ab" for i in range(6)]
    files.append(("shapes/a/big.png", _png_header(12000, 12000)))
    raw = svc.folder_to_zip(files)
    t = time.perf_counter()
    with pytest.raises(ValueError, match=r"'shapes/a/big.png' is 144 megapixels"):
        svc.load_upload(raw, "folder.zip", None)
    assert time.perf_counter() - t < 2.0


# --- NPZ ----------------------------------------------------------------------------------------------

def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _fake_npy(shape: tuple, descr: str = "<f8") -> bytes:
    """A .npy header declaring `shape` followed by a few bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 64


def test_npz_declaring_a_trillion_elements_is_refused_from_the_header():
    raw = _zip({"X.npy": _fake_npy((1_000_000, 1_000_000)), "y.npy": _npy(np.zeros(4))})
    assert len(raw) < 2000
    _refused(raw, r"'X.npy' declares shape \(1000000, 1000000\) of float64 = 7629394.5 MiB, but the "
                  r"limit is 500 MiB", filename="t.npz")


def test_npz_header_larger_than_its_data_is_refused():
    raw = _zip({"X.npy": _fake_npy((1000, 100)), "y.npy": _npy(np.zeros(1000))})
    _refused(raw, r"'X.npy' declares shape \(1000, 100\) .* but the file holds only \d+ bytes", filename="t.npz")


def test_npz_member_that_is_not_an_array_is_refused():
    raw = _zip({"X": b"hello, not an array", "y.npy": _npy(np.zeros(4))})
    _refused(raw, r"'X' is not a readable .npy array", filename="t.npz")


def test_npz_still_loads_normally():
    buf = io.BytesIO()
    np.savez_compressed(buf, X=np.zeros((40, 3)), y=np.arange(40) % 2)
    ds = load_file(buf.getvalue(), filename="ok.npz")
    assert ds.X.shape[1] == 3


def test_npz_element_cap(monkeypatch):
    monkeypatch.setattr("bait_core.learning.data.arrays.MAX_NPZ_ELEMENTS", 130)
    raw = _zip({"X.npy": _npy(np.zeros((40, 3))), "y.npy": _npy(np.zeros(40))})
    _refused(raw, r"with array 'y.npy' \(shape \(40,\)\) the arrays hold 160 elements; NPZ files over 0 million",
             filename="t.npz")
