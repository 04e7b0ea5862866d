"""How image ZIPs and NPZ stacks are read (issue 10, items 4 and 13): values scaled by bit depth with one
rule per archive (16-bit images no longer all read as 1.0), every PIL mode decoded to the right values,
the native size kept up to 64×64, and the reading report stating size, bit depth, scaling, channels,
skipped members, classes and task."""

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

import app_services as svc
from bait_core.learning import data as D
from bait_core.learning.data import images as data_images
from bait_core.learning.data import load_file
from bait_core.learning.reading import ReadOptions, report_lines


# --- helpers ------------------------------------------------------------------------------------------

def _load(*args, **kw):
    """load_file with half the labelled images in the test split (small archives split 4 / 4)."""
    kw.setdefault("test_fraction", 0.5)
    return load_file(*args, **kw)


def _save(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _zip(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


def _all(ds):
    """(X, y) of pool and test together."""
    return np.concatenate([ds.X, ds.X_test]), np.concatenate([ds.y, ds.y_test])


def _one(blob: bytes, ext: str = "png", **opts):
    """Load a ZIP holding `blob` 4 times in each of two classes; (the first image's X (C, H, W), report)."""
    ds = _load(_zip({f"{c}/{i}.{ext}": blob for c in "ab" for i in range(4)}), filename="one.zip",
                   options=ReadOptions(**opts))
    X, _ = _all(ds)
    return X[0], ds.report


def _png16(arr: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 48/64-bit colour): arr (h, w, c) uint16."""
    h, w = arr.shape[:2]
    rows = b"".join(b"\0" + arr[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _sixteen_bit_classes(fmt: str = "PNG", n: int = 10) -> bytes:
    rng = np.random.default_rng(0)
    files = {}
    for c, (lo, hi) in (("dim", (1000, 20000)), ("bright", (40000, 65535))):
        for i in range(n):
            files[f"scans/{c}/{i}.{fmt.lower()}"] = _save(
                Image.fromarray(rng.integers(lo, hi, (8, 8)).astype(np.uint16)), fmt)
    return _zip(files)


# --- item 4: bit depth --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_two_classes_of_16_bit_images_stay_apart(fmt):
    """The issue: both classes used to read as all-1.0 images (convert('RGB') clamps 16-bit values)."""
    ds = _load(_sixteen_bit_classes(fmt), filename="scans.zip")
    X, y = _all(ds)
    means = {c: X[y == k].mean(axis=(1, 2, 3)) for k, c in enumerate(ds.classes)}
    assert abs(means["bright"].mean() - means["dim"].mean()) > 0.3
    assert means["dim"].max() < means["bright"].min()            # a threshold on the mean separates them
    assert 1000 / 65535 - 1e-6 <= X.min() and X.max() <= 1.0
    assert X[y == ds.classes.index("dim")].max() < 20000 / 65535 + 1e-6
    im = ds.report.image
    assert im["bit depth"] == "16-bit: 20" and im["modes"].startswith("I;16 (16-bit grey)")
    assert "16-bit ÷ 65,535" in im["scaling"] and "one rule for the whole archive" in im["scaling"]
    assert not ds.report.warnings


def test_16_bit_values_are_exact():
    vals = np.array([[0, 1000], [40000, 65535]], np.uint16)
    for blob, ext in ((_save(Image.fromarray(vals)), "png"), (_save(Image.fromarray(vals), "TIFF"), "tif")):
        x, rep = _one(blob, ext)
        np.testing.assert_allclose(x[0], vals / 65535, atol=1e-6)
        assert rep.image["bit depth"] == "16-bit: 8"
    x, rep = _one(_save(Image.new("I;16B", (2, 2), 40000), "TIFF"), "tif")          # big-endian TIFF
    np.testing.assert_allclose(x[0], np.full((2, 2), 40000 / 65535), atol=1e-6)
    assert rep.image["modes"].startswith("I;16B (16-bit grey (big-endian))")


def test_16_bit_colour_png_is_read_at_8_bits_and_says_so():
    """Pillow opens 48-bit RGB / 64-bit RGBA PNG as 8-bit RGB(A) (the high byte of each sample): the values
    are scaled right, quantised to 1/255, and the report says so."""
    rgb = np.zeros((2, 2, 3), np.uint16)
    rgb[0, 0] = (1000, 20000, 65535)
    rgb[1, 1] = (40000, 300, 257)
    x, rep = _one(_png16(rgb, 2))
    np.testing.assert_allclose(np.moveaxis(x, 0, -1), rgb / 65535, atol=1 / 255)
    assert "16-bit per channel (read at 8 bits)" in rep.image["bit depth"]
    assert "Pillow reads 16-bit colour at 8 bits per channel" in rep.image["notes"]
    rgba = np.concatenate([rgb, np.full((2, 2, 1), 65535, np.uint16)], axis=2)
    x, rep = _one(_png16(rgba, 6))
    np.testing.assert_allclose(np.moveaxis(x, 0, -1), rgb / 65535, atol=1 / 255)


def test_float_tiff_within_0_1_is_kept_and_outside_is_min_max_over_the_archive():
    vals = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    x, rep = _one(_save(Image.fromarray(vals), "TIFF"), "tif")
    np.testing.assert_allclose(x[0], vals, atol=1e-7)
    assert rep.image["bit depth"] == "32-bit float: 8" and "float values kept (all within 0–1)" in rep.image["scaling"]

    files = {f"a/{i}.tif": _save(Image.fromarray(np.full((2, 2), -1.0 + i, np.float32)), "TIFF") for i in range(4)}
    files.update({f"b/{i}.tif": _save(Image.fromarray(np.array([[0, 3], [i, 1]], np.float32)), "TIFF")
                  for i in range(4)})
    ds = _load(_zip(files), filename="f.zip")
    X, y = _all(ds)
    assert X.min() == 0.0 and X.max() == 1.0
    a0 = X[(y == 0)][:, 0]
    assert sorted(np.unique(a0.round(6))) == pytest.approx([0, 0.25, 0.5, 0.75])     # (v + 1) / 4: one rule
    assert "(value − -1) ÷ (3 − -1)" in ds.report.image["scaling"]
    assert "float values lie outside 0–1" in ds.report.image["scaling"]


def test_32_bit_integer_tiff_without_a_usable_range_is_divided_by_the_archive_max():
    files = {f"{c}/{i}.tif": _save(Image.fromarray(np.array([[0, 1000 * (i + 1)], [k * 50000, 7]], np.int32)), "TIFF")
             for k, c in enumerate("ab") for i in range(4)}
    ds = _load(_zip(files), filename="i.zip")
    X, y = _all(ds)
    assert X.max() == 1.0
    np.testing.assert_allclose(X[y == 1][:, 0, 1, 0], 50000 / 50000)
    sc = ds.report.image["scaling"]
    assert "every value ÷ 50000, the largest value in the archive" in sc and "32-bit signed integer" in sc


def test_mixing_a_known_range_with_an_undeclared_one_is_refused_unless_a_scaling_is_chosen():
    files = {f"a/{i}.png": _save(Image.new("L", (4, 4), 10 * i)) for i in range(4)}
    files.update({f"b/{i}.tif": _save(Image.fromarray(np.full((4, 4), 1000 * i, np.int32)), "TIFF")
                  for i in range(4)})
    with pytest.raises(ValueError, match=r"'m.zip' mixes images of a known range \(8-bit, e.g. 'a/0.png'\) with "
                                         r"images whose range is not declared .*'b/0.tif'"):
        _load(_zip(files), filename="m.zip")
    ds = _load(_zip(files), filename="m.zip", options=ReadOptions(image_scaling="minmax"))
    X, _ = _all(ds)
    assert X.min() == 0 and X.max() == 1 and "(as chosen)" in ds.report.image["scaling"]


def test_scaling_override_and_its_validation():
    ds = _load(_sixteen_bit_classes(), filename="s.zip", options=ReadOptions(image_scaling="max"))
    X, _ = _all(ds)
    assert X.max() == 1.0 and "largest value in the archive" in ds.report.image["scaling"]
    assert ds.report.inferred["image_scaling"] is False
    ds = _load(_sixteen_bit_classes(), filename="s.zip", options=ReadOptions(image_scaling="none"))
    assert _all(ds)[0].max() > 40000
    with pytest.raises(ValueError, match=r"The image scaling must be one of type, max, minmax, none, got 'auto'"):
        _load(_sixteen_bit_classes(), filename="s.zip", options=ReadOptions(image_scaling="auto"))


def test_constant_and_identical_images_are_warned_about():
    files = {f"{c}/{i}.png": _save(Image.new("L", (6, 6), 40 + i + 20 * k)) for k, c in enumerate("ab") for i in range(5)}
    ds = _load(_zip(files), filename="flat.zip")
    (w,) = ds.report.warnings
    assert w.startswith("10 of 10 images in 'flat.zip' are (nearly) uniform") and "scaling" in w
    same = _save(Image.fromarray(np.arange(36, dtype=np.uint8).reshape(6, 6)))
    ds = _load(_zip({f"{c}/{i}.png": same for c in "ab" for i in range(5)}), filename="same.zip")
    assert ds.report.warnings[0].startswith("All 10 images in 'same.zip' are identical after loading")
    # textured images: no warning
    rng = np.random.default_rng(1)
    files = {f"{c}/{i}.png": _save(Image.fromarray(rng.integers(0, 255, (6, 6), dtype=np.uint8)))
             for c in "ab" for i in range(5)}
    assert _load(_zip(files), filename="ok.zip").report.warnings == []


def test_12_bit_data_in_16_bit_files_and_mixed_bit_depths_are_warned_about():
    rng = np.random.default_rng(2)
    files = {f"{c}/{i}.png": _save(Image.fromarray(rng.integers(0, 4096, (6, 6)).astype(np.uint16)))
             for c in "ab" for i in range(5)}
    ds = _load(_zip(files), filename="cam.zip")
    assert any("use values only up to" in w and "choose the image scaling 'max'" in w for w in ds.report.warnings)
    files = {f"a/{i}.png": _save(Image.fromarray(rng.integers(0, 255, (6, 6), dtype=np.uint8))) for i in range(5)}
    files.update({f"b/{i}.png": _save(Image.fromarray(rng.integers(0, 65535, (6, 6)).astype(np.uint16)))
                  for i in range(5)})
    ds = _load(_zip(files), filename="mix.zip")
    assert any(w.startswith("'mix.zip' mixes bit depths (8-bit: 5, 16-bit: 5)") for w in ds.report.warnings)
    assert ds.report.image["bit depth"] == "8-bit: 5, 16-bit: 5"


def test_mixed_grey_and_colour_become_rgb_and_the_report_says_how():
    files = {f"a/{i}.png": _save(Image.new("L", (4, 4), 100)) for i in range(4)}
    files.update({f"b/{i}.png": _save(Image.new("RGB", (4, 4), (200, 10, 10))) for i in range(4)})
    ds = _load(_zip(files), filename="gc.zip")
    X, y = _all(ds)
    assert ds.input_shape == (3, 4, 4)
    np.testing.assert_allclose(X[y == 0][:, :, 0, 0], 100 / 255, atol=1e-6)          # grey repeated
    np.testing.assert_allclose(X[y == 1][0, :, 0, 0], np.array([200, 10, 10]) / 255, atol=1e-6)
    assert ds.report.image["channels"] == "3 (RGB): 4 colour image(s), 4 grey image(s) repeated in R, G and B"
    ds = _load(_zip(files), filename="gc.zip", options=ReadOptions(image_channels=1))
    X, y = _all(ds)
    assert ds.input_shape == (1, 4, 4)
    np.testing.assert_allclose(X[y == 1][0, 0, 0, 0], (0.299 * 200 + 0.587 * 10 + 0.114 * 10) / 255, atol=1e-5)
    assert "turned grey with the ITU-R 601 luma weights (as chosen)" in ds.report.image["channels"]


# --- every mode decodes to the right values ----------------------------------------------------------

def _palette_with_transparency() -> Image.Image:
    p = Image.new("P", (2, 1))
    p.putpalette([10, 20, 30, 200, 100, 0])
    p.putpixel((1, 0), 1)
    p.info["transparency"] = 0
    return p


@pytest.mark.parametrize("mode, make, ext, want", [
    ("1", lambda: Image.frombytes("1", (2, 1), bytes([0b01000000])), "png", [[[0.0, 1.0]]]),
    ("L", lambda: Image.frombytes("L", (2, 1), bytes([0, 77])), "png", [[[0.0, 77 / 255]]]),
    ("LA", lambda: Image.frombytes("LA", (2, 1), bytes([100, 255, 100, 128])), "png",
     [[[100 / 255, (100 * 128 / 255 + 255 * 127 / 255) / 255]]]),
    ("P", _palette_with_transparency, "png",                     # index 0 is transparent → white
     [[[1.0, 200 / 255]], [[1.0, 100 / 255]], [[1.0, 0.0]]]),
    ("RGB", lambda: Image.frombytes("RGB", (1, 1), bytes([255, 128, 0])), "png", [[[1.0]], [[128 / 255]], [[0.0]]]),
    ("RGBA", lambda: Image.frombytes("RGBA", (1, 1), bytes([255, 0, 0, 51])), "png",
     [[[1.0]], [[0.8]], [[0.8]]]),                                # 20 % red over white
    ("CMYK", lambda: Image.new("CMYK", (1, 1), (0, 255, 0, 0)), "tif", [[[1.0]], [[0.0]], [[1.0]]]),
    ("I;16", lambda: Image.fromarray(np.array([[0, 65535, 257]], np.uint16)), "png",
     [[[0.0, 1.0, 257 / 65535]]]),
    ("I;16B", lambda: Image.new("I;16B", (1, 1), 13107), "tif", [[[0.2]]]),
    ("F", lambda: Image.fromarray(np.array([[0.0, 0.125, 1.0]], np.float32)), "tif", [[[0.0, 0.125, 1.0]]]),
])
def test_each_mode_loads_the_values_it_holds(mode, make, ext, want):
    im = make()
    assert im.mode == mode
    blob = _save(im, {"png": "PNG", "tif": "TIFF"}[ext])
    with Image.open(io.BytesIO(blob)) as back:
        assert back.mode == mode                                   # the file really is in that mode
    x, rep = _one(blob, ext)
    np.testing.assert_allclose(x, np.array(want), atol=1e-6)
    assert rep.image["modes"].startswith(f"{mode} (")


def test_ycbcr_and_lab_are_converted_to_rgb_properly():
    red = Image.new("YCbCr", (1, 1), (76, 85, 255))               # JFIF YCbCr of pure red
    x, rep = _one(_save(red, "TIFF"), "tif")
    np.testing.assert_allclose(x[:, 0, 0], [1.0, 0.0, 0.0], atol=3 / 255)
    assert rep.image["modes"].startswith("YCbCr")
    grey = Image.new("LAB", (1, 1), (128, 128, 128))               # L* ≈ 50, a* = b* = 0 → sRGB grey 119
    x, rep = _one(_save(grey, "TIFF"), "tif")
    assert x.shape == (1, 1, 1) and abs(x[0, 0, 0] - 119 / 255) < 2 / 255
    assert rep.image["modes"].startswith("LAB (CIE L*a*b*, converted to sRGB)")
    reddish = Image.new("LAB", (1, 1), (128, 200, 160))            # a* > 0: red, b* > 0: yellowish
    x, _ = _one(_save(reddish, "TIFF"), "tif")
    r, g, b = x[:, 0, 0]
    assert r > 0.7 and r > g and r > b


@pytest.mark.parametrize("im, want", [
    (Image.new("HSV", (1, 1), (0, 255, 255)), [[[1.0]], [[0.0]], [[0.0]]]),
    (Image.new("HSV", (1, 1), (85, 255, 255)), [[[0.0]], [[1.0]], [[0.0]]]),
    (Image.new("La", (1, 1), (100, 128)), [[[(199 * 128 / 255 + 255 * 127 / 255) / 255]]]),
    (Image.new("RGBa", (1, 1), (100, 0, 0, 255)), [[[100 / 255]], [[0.0]], [[0.0]]]),
    (Image.new("I;16L", (1, 1), 6553), [[[6553 / 65535]]]),
    (Image.new("I;16", (1, 1), 65535), [[[1.0]]]),
])
def test_modes_no_file_format_stores_decode_too(im, want):
    """HSV, La, RGBa and I;16L cannot be saved by Pillow: the decoder's pixel step is tested on them directly."""
    a, _ = D._pixels(im, "x", "up.zip")
    head_divisor = D._declared_depth(im, b"")[1]
    np.testing.assert_allclose(np.moveaxis(a / head_divisor, -1, 0), np.array(want), atol=1e-6)


def test_exif_orientation_is_applied():
    im = Image.new("L", (3, 2))
    im.putdata([10, 20, 30, 40, 50, 60])
    exif = Image.Exif()
    exif[0x0112] = 6
    blob = _save(im, exif=exif)
    x, rep = _one(blob)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(blob))), dtype=np.float32) / 255
    assert x.shape == (1, 3, 2)
    np.testing.assert_allclose(x[0], upright, atol=1e-6)
    assert rep.image["orientation"] == "8 image(s) turned upright by their EXIF orientation"
    assert rep.image["native sizes"] == "3×2: 8"


def test_unreadable_mode_is_refused_naming_the_file(monkeypatch):
    monkeypatch.setattr(data_images, "_EIGHT_BIT_MODES", tuple(m for m in data_images._EIGHT_BIT_MODES if m != "CMYK"))
    with pytest.raises(ValueError, match=r"'one.zip': 'a/0.tif' has the image mode 'CMYK', which this loader "
                                         r"does not read; save it as an 8-bit or 16-bit PNG"):
        _one(_save(Image.new("CMYK", (2, 2)), "TIFF"), "tif")


# --- item 13: size -----------------------------------------------------------------------------------

def _digits(sizes) -> bytes:
    rng = np.random.default_rng(3)
    return _zip({f"{c}/{i}.png": _save(Image.fromarray(rng.integers(0, 255, sizes[i % len(sizes)], dtype=np.uint8)))
                 for c in "ab" for i in range(6)})


def test_native_size_is_kept_when_shared_and_small():
    ds = _load(_digits([(8, 8)]), filename="d.zip")
    assert ds.input_shape == (1, 8, 8) and ds.n_features == 64
    im = ds.report.image
    assert im["size"].startswith("8×8 (height×width): the native size, shared by all images and at most 64×64")
    assert im["resized"] == "none of 12 images" and im["native sizes"] == "8×8: 12"
    assert ds.report.inferred["image_size"] is True


def test_mixed_or_large_sizes_become_28_by_28_and_the_report_says_why():
    ds = _load(_digits([(8, 8), (10, 12)]), filename="m.zip")
    assert ds.input_shape == (1, 28, 28)
    im = ds.report.image
    assert im["size"].startswith("28×28 (height×width): the default, as the images have 2 different sizes")
    assert im["native sizes"] == "8×8: 6, 10×12: 6"
    assert im["resized"].startswith("12 of 12 images (Lanczos")
    ds = _load(_digits([(70, 70)]), filename="big.zip")
    assert ds.input_shape == (1, 28, 28) and "larger than 64×64" in ds.report.image["size"]


def test_image_size_option_and_argument_override():
    ds = _load(_digits([(8, 8), (10, 12)]), filename="m.zip", options=ReadOptions(image_size=(16, 16)))
    assert ds.input_shape == (1, 16, 16) and ds.report.image["size"] == "16×16 (height×width): as chosen"
    assert ds.report.inferred["image_size"] is False
    ds = _load(_digits([(8, 8)]), filename="d.zip", image_size=(6, 5))
    assert ds.input_shape == (1, 6, 5) and ds.report.image["resized"].startswith("12 of 12")


def test_non_square_images_stretched_to_the_default_are_warned_about():
    ds = _load(_digits([(20, 80)]), filename="wide.zip")
    assert any("are not square, and are stretched to 28×28" in w for w in ds.report.warnings)


# --- the ZIP report ----------------------------------------------------------------------------------

def test_zip_report_states_members_classes_task_and_lines():
    files = {f"top/{c}/{i}.png": _save(Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * (k + 1)))
             for k, c in enumerate(("cat", "dog")) for i in range(5 + k)}
    files.update({"__MACOSX/top/cat/._0.png": b"x", "top/cat/.DS_Store": b"x", "top/dog/Thumbs.db": b"x",
                  "top/.hidden/x.png": b"x"})
    ds = _load(_zip(files), filename="pets.zip")
    r = ds.report
    assert r.format == "ZIP of images" and r.rows_read == 11 and r.classes == {"cat": 5, "dog": 6}
    assert r.task == "classification" and "each of the 2 folders is a class" in r.task_reason
    assert r.rows_without_label == 0
    dropped = dict((why, n) for n, why in r.rows_dropped)
    assert dropped == {"archive member(s) skipped as macOS metadata (under '__MACOSX/')": 1,
                       "archive member(s) skipped as hidden files (names starting with '.', e.g. '.DS_Store')": 2,
                       "archive member(s) skipped as Windows thumbnails and folder settings (Thumbs.db, "
                       "desktop.ini)": 1}
    text = "\n".join(report_lines(r))
    assert "format: ZIP of images" in text and "Classes (2): cat (5), dog (6)" in text
    assert "size: 4×4 (height×width)" in text and "bit depth: 8-bit: 11" in text
    assert "scaling: each value ÷ the maximum of its bit depth (8-bit ÷ 255)" in text
    r.to_dict()                                                     # plain data


def test_folder_upload_reports_progress():
    calls = []
    files = [(f"f/{c}/{i}.png", _save(Image.new("L", (4, 4), i))) for c in "ab" for i in range(5)]
    raw = svc.folder_to_zip(files, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 10) for k in range(11)]
    assert _load(raw, filename="f.zip").report.rows_read == 10
    svc.folder_to_zip(files)                                          # the callback stays optional


# --- NPZ ---------------------------------------------------------------------------------------------

def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("dtype, top, div, rule", [
    (np.uint8, 255, 255, "uint8 ÷ 255, the maximum of its type"),
    (np.uint16, 60000, 65535, "uint16 ÷ 65,535, the maximum of its type"),
    (np.int64, 200, 255, "int64 values within 0–255 read as 8-bit: ÷ 255"),
    (np.float64, 200, 255, "float values are whole numbers within 0–255, read as 8-bit values: ÷ 255"),
    (np.float32, 0.5, 1, "float values kept (all within 0–1)"),
])
def test_npz_image_scaling_is_stated(dtype, top, div, rule):
    X = np.zeros((20, 5, 4), dtype)
    X[:, 0, 0] = top
    X[:, 1, 1] = (np.arange(20) % 7) * top / 7 if top <= 1 else (np.arange(20) % 7) * 9
    ds = _load(_npz(X=X, y=np.arange(20) % 2), filename="img.npz")
    Xall, _ = _all(ds)
    assert Xall.max() == pytest.approx(top / div, abs=1e-6)
    im = ds.report.image
    assert im["scaling"].startswith(rule) and im["dtype"] == np.dtype(dtype).name
    assert im["layout"] == "(N, H, W): grey → (N, C, H, W) = (20, 1, 5, 4)"
    assert im["value range"] == f"0–{top:g} before scaling" and im["size"] == "5×4 (height×width), as stored"


def test_npz_report_arrays_task_and_features():
    rng = np.random.default_rng(4)
    raw = _npz(X=rng.normal(size=(30, 3)), y=np.arange(30) % 3 * 1.0, feature_names=np.array(["a", "b", "c"]),
               meta=np.zeros(2))
    r = _load(raw, filename="t.npz").report
    assert r.format == "NPZ" and r.rows_read == 30 and r.label_column == "y"
    assert r.arrays[:4] == ["X: shape (30, 3), float64", "y: shape (30,), float64",
                            "feature_names: shape (3,), <U1", "meta: shape (2,), float64 (not used)"]
    assert r.arrays[4] == "feature names from the feature_names array"
    assert [(c.name, c.role) for c in r.columns] == [("a", "numeric"), ("b", "numeric"), ("c", "numeric"),
                                                     ("y", "label")]
    assert r.task == "classification" and r.classes == {"0": 10, "1": 10, "2": 10}
    assert r.task_reason == "y holds floats that are whole numbers with 3 distinct values (at most 20: classes)"
    r = _load(_npz(X=rng.normal(size=(30, 2)), y=np.arange(30) * 1.0), filename="t.npz").report
    assert r.task == "regression" and "30 distinct values (more than 20: a quantity)" in r.task_reason
    y = rng.normal(size=30)
    y[:3] = np.nan
    r = _load(_npz(X=rng.normal(size=(30, 2)), y=y), filename="t.npz").report
    assert r.task_reason == "y holds floats that are not all whole numbers"
    assert r.rows_without_label == 3 and "feature names generated (x0, x1, …)" in r.arrays[-1]
    r = _load(_npz(X=rng.normal(size=(30, 2)), y=np.arange(30) % 2), filename="t.npz",
                  options=ReadOptions(task="regression")).report
    assert r.task == "regression" and r.task_reason == "as chosen" and r.inferred["task"] is False
    r = _load(_npz(X=rng.normal(size=(30, 2)), y=np.arange(30) % 2), filename="t.npz").report
    assert r.task_reason == "y holds integers (int64): in an NPZ integer labels are classes"
    text = "\n".join(report_lines(r))
    assert "format: NPZ" in text and "Array X: shape (30, 2), float64" in text and "Task: classification" in text


def test_npz_image_scaling_override_and_refusals():
    X = np.linspace(-2, 2, 20 * 16).reshape(20, 4, 4)
    ds = _load(_npz(X=X, y=np.arange(20) % 2), filename="n.npz")
    assert "float values kept as they are (-2–2, not within 0–1" in ds.report.image["scaling"]
    ds = _load(_npz(X=X, y=np.arange(20) % 2), filename="n.npz", options=ReadOptions(image_scaling="minmax"))
    Xa, _ = _all(ds)
    assert Xa.min() == 0 and Xa.max() == 1 and ds.report.image["scaling"].endswith("(as chosen)")
    with pytest.raises(ValueError, match=r"'n.npz' holds|'n.npz': X holds negative values"):
        _load(_npz(X=X, y=np.arange(20) % 2), filename="n.npz", options=ReadOptions(image_scaling="max"))
