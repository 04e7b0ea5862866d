"""Image ZIPs (.zip with one folder per class, optionally under one top folder) → :class:`Dataset`.

Members with IMAGE_EXTENSIONS are decoded with Pillow (EXIF orientation applied, palette / CMYK / 16-bit
/ float modes converted, transparency over white); hidden files, ``__MACOSX/`` and OS clutter are
skipped and counted in the report; any other file (not an image, an archive inside the archive, an image
outside a class folder unless the class list is typed or an ``unlabeled/`` folder exists) is refused.
Images in a folder named ``unlabeled`` (any case) are unlabeled (y = -1, always in the pool). A top-level
folder named ``test`` (any case, below the common top folder) holding class folders is the supplied test
set (no random split; its class folders are classes even when the pool has none of them). Size: ``image_size`` when given, else the native size shared by
every image up to MAX_NATIVE_SIDE (64), else DEFAULT_IMAGE_SIZE (28×28). Channels: 3 when any image is
in colour, else 1. Values: one scaling rule for the archive (:func:`_scale_images`); near-constant
images are warned about (:func:`_uniformity_warnings`).

Limits, each checked from headers before decoding: MAX_IMAGE_BYTES (64 MiB) per image file,
MAX_COMPRESSION_RATIO (200:1) for files over 1 MiB, MAX_IMAGE_PIXELS (40 million) per image,
MAX_ARCHIVE_PIXELS (500 million) decoded per archive, MAX_IMAGE_DATASET_BYTES (1.5 GB) for the
arrays, and the ZIP limits of :mod:`.archives`.  Errors: ``ValueError`` naming the archive and the
member, and what to do (shrink, convert, re-zip, upload fewer).
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Optional, Sequence

import numpy as np

from bait_core.common.quoting import quote as _quote
from bait_core.learning.data.archives import _read_member, _zip_total
from bait_core.learning.data.dataset import (Dataset, _apply_typed, _extension, _finish, _split, _supplied_split,
                                             _to_uint8_images)
from bait_core.learning.reading import ReadingReport, ReadOptions


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm")
_SKIPPED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}   # plus anything starting with "."
ARCHIVE_EXTENSIONS = (".zip", ".npz", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar", ".zst")
MAX_IMAGE_BYTES = 64 * 2**20          # uncompressed size of one image file inside a ZIP
MAX_COMPRESSION_RATIO = 200           # uncompressed ÷ compressed of one image file over 1 MiB
MAX_IMAGE_PIXELS = 40_000_000         # width × height of one image, from its header
MAX_ARCHIVE_PIXELS = 500_000_000      # pixels decoded over one ZIP, all images together
# An image ZIP's dataset: X float32 (N, C, H, W) plus the uint8 display copy, 5 bytes per value, all
# the loader holds at its peak (images are decoded into X in place; temporaries are chunked).  1.5 GB
# keeps a loader within what one app session on a shared 8–16 GB server can take, and fits 60,000
# 28×28 grey images (0.24 GB) or 20,000 64×64 colour images (1.2 GB).
MAX_IMAGE_DATASET_BYTES = 1_500_000_000


_SKIP_REASONS = (
    ("__MACOSX", "macOS metadata (under '__MACOSX/')"),
    (".", "hidden files (names starting with '.', e.g. '.DS_Store')"),
    ("Thumbs.db", "Windows thumbnails and folder settings (Thumbs.db, desktop.ini)"),
)


def _skip_reason(path: str) -> Optional[str]:
    """Why an archive member is skipped (hidden files, macOS resource forks, OS clutter), or None."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if "__MACOSX" in parts:
        return _SKIP_REASONS[0][1]
    if any(p.startswith(".") for p in parts):
        return _SKIP_REASONS[1][1]
    if any(p in _SKIPPED_NAMES for p in parts):
        return _SKIP_REASONS[2][1]
    return None


def _skipped(path: str) -> bool:
    """Hidden files, macOS resource forks and OS clutter inside an archive."""
    return _skip_reason(path) is not None


_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def _check_image_stack(n: int, channels: int, size_hw: tuple[int, int], name: str) -> None:
    """Refuse, before any pixel is decoded, an image dataset whose arrays would exceed
    MAX_IMAGE_DATASET_BYTES (X float32 plus the uint8 display images: 5 bytes per value)."""
    H, W = size_hw
    need = n * channels * H * W * 5
    if need > MAX_IMAGE_DATASET_BYTES:
        fit = MAX_IMAGE_DATASET_BYTES // (channels * H * W * 5)
        raise ValueError(
            f"{_quote(name)}: {n:,} images of {H}×{W} pixels × {channels} channel(s) would take "
            f"{need / 1e9:.1f} GB in memory; the limit is {MAX_IMAGE_DATASET_BYTES / 1e9:.1f} GB "
            f"(about {fit:,} such images). Upload fewer images or choose a smaller image size.")


class _PixelBudget:
    """Pixels decoded so far over one archive, against MAX_ARCHIVE_PIXELS."""

    def __init__(self, name: str, limit: Optional[int] = None) -> None:
        self.name, self.spent = name, 0
        self.limit = int(MAX_ARCHIVE_PIXELS if limit is None else limit)

    def spend(self, pixels: int, member: str) -> None:
        if self.spent + pixels > self.limit:
            raise ValueError(
                f"{_quote(self.name)}: decoding {_quote(member)} would bring the images' total to "
                f"{(self.spent + pixels) / 1e6:.0f} megapixels; an archive may decode at most "
                f"{self.limit / 1e6:.0f} megapixels in all (e.g. {self.limit // 1_000_000} images of one "
                f"megapixel). Shrink the images before zipping them, or upload fewer.")
        self.spent += pixels


# EXIF orientation → the transpose that shows the image upright (as ImageOps.exif_transpose)
_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}

# Image size and value rules (issue 10, items 4 and 13); all stated in the reading report.
MAX_NATIVE_SIDE = 64            # a size shared by every image, up to 64×64, is kept as it is
DEFAULT_IMAGE_SIZE = (28, 28)   # otherwise images are resized to this (height, width)
NEAR_CONSTANT_STD = 1 / 255     # an image whose values vary less than this (after scaling) is "uniform"
_EIGHT_BIT_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB",
                    "HSV")
_MODE_NAMES = {"1": "1-bit black and white", "L": "8-bit grey", "LA": "8-bit grey with alpha",
               "La": "8-bit grey with premultiplied alpha", "P": "palette", "PA": "palette with alpha",
               "RGB": "8-bit RGB", "RGBA": "8-bit RGB with alpha", "RGBa": "8-bit RGB with premultiplied alpha",
               "RGBX": "8-bit RGB with padding", "CMYK": "CMYK, converted to RGB", "YCbCr": "YCbCr, converted to RGB",
               "LAB": "CIE L*a*b*, converted to sRGB", "HSV": "HSV, converted to RGB", "I;16": "16-bit grey", "I;16B": "16-bit grey (big-endian)",
               "I;16L": "16-bit grey (little-endian)", "I;16N": "16-bit grey", "I": "32-bit integer grey",
               "F": "32-bit float grey"}


class _Refused(ValueError):
    """A limit refused the file (re-raised as is, not re-worded as 'not readable')."""


@dataclass
class _ImageHead:
    """What an image's header says, before any pixel is decoded."""

    member: str
    mode: str
    size_hw: tuple[int, int]             # upright (EXIF orientation applied): (height, width)
    orientation: int
    depth: str                           # "8-bit", "16-bit", "32-bit float", ... (for the report)
    divisor: Optional[float]             # the maximum of the type's range; None when not declared
    is_float: bool = False
    note: str = ""                       # e.g. a 16-bit colour PNG that Pillow reads at 8 bits


def _image_failure(e: BaseException, name: str, member: str) -> ValueError:
    """A decoder's exception on an archive member, as a sentence naming it."""
    from PIL import Image

    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # PIL's own check fired while reading the header (it knows the pixel count, not our limit)
        got = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(got.group(1)) / 1e6:.0f} megapixels" if got else "larger than PIL's decompression-bomb limit"
        return ValueError(f"{_quote(name)}: {_quote(member)} is {size}; images over {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
                          f"are refused. Shrink it and upload again.")
    if isinstance(e, MemoryError):
        return ValueError(f"{_quote(name)}: {_quote(member)} needs more memory to decode than is available")
    return ValueError(f"{_quote(name)}: {_quote(member)} is not a readable image ({type(e).__name__}: {e})")


def _declared_depth(im: Any, blob: bytes) -> tuple[str, Optional[float], bool, str]:
    """(bit depth for the report, type maximum or None, is float, note) of an opened image.

    Pillow opens 16-bit grey PNG / TIFF as I;16 (values 0–65535), 32-bit TIFF as I or F, 16-bit PGM as I
    (values rescaled by Pillow to 0–65535), and 16-bit colour PNG (48/64-bit RGB(A), 16-bit grey+alpha)
    as 8-bit RGB(A): it keeps the high byte of each sample, so those values are right but quantised."""
    mode = im.mode
    if mode in _EIGHT_BIT_MODES:
        bits = None
        if blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) >= 26 and blob[12:16] == b"IHDR":
            bits = blob[24] if blob[25] in (2, 4, 6) else None          # colour / grey+alpha PNG
        elif getattr(im, "format", None) == "TIFF":
            b = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
            bits = max(b) if isinstance(b, tuple) and b else b if isinstance(b, int) else None
        if bits is not None and bits > 8:
            return (f"{bits}-bit per channel (read at 8 bits)", 255.0, False,
                    f"Pillow reads {bits}-bit colour at 8 bits per channel (the high byte)")
        return ("1-bit" if mode == "1" else "8-bit"), 255.0, False, ""
    if mode.startswith("I;16"):
        return "16-bit", 65535.0, False, ""
    if mode == "I":
        if getattr(im, "format", None) in ("PPM", "PGM"):
            return "16-bit", 65535.0, False, "Pillow rescales PGM/PPM values to 0–65535"
        if getattr(im, "format", None) == "TIFF" and hasattr(im, "tag_v2"):
            b, sf = im.tag_v2.get(258), im.tag_v2.get(339)
            bits = b[0] if isinstance(b, tuple) and b else b if isinstance(b, int) else None
            sf = sf[0] if isinstance(sf, tuple) and sf else sf
            if bits and sf in (None, 1):
                return f"{bits}-bit unsigned integer", float(2 ** int(bits) - 1), False, ""
            if bits and sf == 2:
                return f"{bits}-bit signed integer", None, False, ""
        return "32-bit integer (range not declared)", None, False, ""
    if mode == "F":
        return "32-bit float", None, True, ""
    raise _Refused(f"has the image mode {_quote(mode)}, which this loader does not read")


def _image_head(blob: bytes, member: str, name: str) -> _ImageHead:
    """Header facts of one image (PIL opens lazily: no pixel is decoded). Refuses empty images, zero
    sizes and images over MAX_IMAGE_PIXELS, naming the member."""
    from PIL import Image

    if len(blob) == 0:
        raise ValueError(f"{_quote(name)}: image {_quote(member)} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise _Refused(
                        f"{_quote(name)}: {_quote(member)} is {w}×{h} = {w * h / 1e6:.0f} megapixels; images over "
                        f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are refused. Shrink it and upload again.")
                if w == 0 or h == 0:
                    raise _Refused(f"{_quote(name)}: image {_quote(member)} has zero size {im.size}")
                orientation = im.getexif().get(0x0112, 1)
                orientation = orientation if orientation in _ORIENTATION else 1
                try:
                    depth, divisor, is_float, note = _declared_depth(im, blob)
                except _Refused as e:
                    raise _Refused(f"{_quote(name)}: {_quote(member)} {e}; save it as an 8-bit or 16-bit PNG.") from None
                mode = im.mode
    except _Refused:
        raise
    except Exception as e:          # noqa: BLE001 - any failure of the decoder on foreign bytes is the file's
        raise _image_failure(e, name, member) from None
    hw = (w, h) if orientation in (5, 6, 7, 8) else (h, w)               # width and height swap
    return _ImageHead(member, mode, hw, orientation, depth, divisor, is_float, note)


def _as_8bit(im: Any) -> Any:
    """An 8-bit-family image (see _EIGHT_BIT_MODES) as a PIL image in L, RGB, LA or RGBA (the last two
    only when some pixel is transparent).

    1-bit → 0/255 grey; P → its palette colours (with alpha when it has transparency); La / RGBa
    (premultiplied) → LA / RGBA; CMYK, YCbCr, HSV → RGB by Pillow; LAB → sRGB by LittleCMS (Pillow's
    own LAB → RGB conversion does not convert the colour space)."""
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode in ("L", "RGB") and "transparency" not in im.info:
        return im
    if mode == "P" and "transparency" not in im.info:
        return im.convert("RGB")
    if mode in ("RGBX", "CMYK", "YCbCr", "HSV"):
        return im.convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms
        to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                          "LAB", "RGB")
        return ImageCms.applyTransform(im, to_srgb)
    if mode in ("L", "LA", "La"):                                       # grey with alpha (or a tRNS value)
        out = im.convert("LA")
    elif mode in ("P", "PA", "RGB", "RGBA", "RGBa"):
        out = im.convert("RGBA")
    else:
        raise _Refused(f"has the image mode {_quote(mode)}, which this loader does not read")
    if out.getextrema()[-1][0] == 255:                                  # fully opaque: drop alpha
        return out.convert(out.mode[:-1])
    return out


def _over_white(a: np.ndarray) -> np.ndarray:
    """(h, w, C+1) 8-bit values with alpha last → (h, w, C) composited over white."""
    alpha = a[..., -1:] / np.float32(255.0)
    return a[..., :-1] * alpha + np.float32(255.0) * (1 - alpha)


def _pixels(im: Any, member: str, name: str) -> tuple[np.ndarray, bool]:
    """An opened image's pixels as (h, w, C) float32 in the units of its type (0–255 for the 8-bit
    modes, 0–65535 for 16-bit, raw for I and F), C = 1 or 3, and whether alpha was composited
    (transparent pixels over white). 8-bit modes go through :func:`_as_8bit`; I;16* / I / F keep
    their values (NaN or infinite floats are refused)."""
    f32 = np.float32
    if im.mode in _EIGHT_BIT_MODES:
        b = _as_8bit(im)
        a = np.asarray(b, dtype=f32)
        a = a[..., None] if a.ndim == 2 else a
        return (_over_white(a), True) if b.mode in ("LA", "RGBA") else (a, False)
    if im.mode.startswith("I;16") or im.mode == "I":
        return np.asarray(im).astype(np.float64).astype(f32)[..., None], False
    if im.mode == "F":
        a = np.asarray(im, dtype=f32)
        if not np.isfinite(a).all():
            raise _Refused(f"{_quote(name)}: {_quote(member)} holds {int((~np.isfinite(a)).sum())} NaN or infinite "
                           f"values; replace them and upload again.")
        return a[..., None], False
    raise _Refused(f"{_quote(name)}: {_quote(member)} has the image mode {_quote(im.mode)}, which this loader does not read; "
                   f"save it as an 8-bit or 16-bit PNG.")


def _decode_image(blob: bytes, member: str, name: str, size_hw: tuple[int, int],
                  budget: Optional[_PixelBudget] = None, head: Optional[_ImageHead] = None
                  ) -> tuple[np.ndarray, dict]:
    """Image bytes → (H, W, C) float32 in the units of the image's type, resized to `size_hw`
    (Lanczos), upright (EXIF orientation), C = 1 for grey (colour images whose channels are all equal
    included) or 3; and facts {"alpha": transparent pixels composited over white, "resized": bool}.

    8-bit modes are converted and resized by Pillow in 8 bits (RGBA / LA with premultiplied alpha, then
    composited over white), as small as the old loader's; 16-bit, 32-bit integer and float images are
    resized per channel in floating point (mode F: nothing is clamped or rounded to 8 bits).
    The image's size is checked from its header first (:func:`_image_head`): over MAX_IMAGE_PIXELS it is
    refused, and the pixels it will decode are charged to `budget`, before any pixel is decoded.
    Only the first frame of an animated GIF / multi-page TIFF is read.  PIL's own process-wide
    decompression-bomb limit is left as it is; its warning is an error here.  Values are NOT scaled
    here: one rule for the whole archive is applied by the caller (:func:`_scale_images`)."""
    from PIL import Image

    head = head or _image_head(blob, member, name)
    H, W = size_hw
    turned = head.orientation in (5, 6, 7, 8)
    target = (H, W) if turned else (W, H)                                 # PIL (width, height) before turning
    lanczos = Image.Resampling.LANCZOS
    turn = (getattr(Image.Transpose, _ORIENTATION[head.orientation]) if head.orientation in _ORIENTATION
            else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as im:
                im.draft("RGB", target)                                   # JPEG: decode at a reduced scale
                if budget is not None:
                    budget.spend(max(im.width * im.height, H * W), member)   # decode and resize work
                resized = im.size != target
                if im.mode in _EIGHT_BIT_MODES:
                    b = _as_8bit(im)
                    if resized:
                        b = b.resize(target, lanczos, reducing_gap=3.0)  # LA / RGBA: premultiplied alpha
                    if turn is not None:
                        b = b.transpose(turn)
                    out = np.asarray(b, dtype=np.float32)
                    out = out[..., None] if out.ndim == 2 else out
                    alpha = b.mode in ("LA", "RGBA")
                    if alpha:
                        out = _over_white(out)
                else:
                    a, alpha = _pixels(im, member, name)                  # (h, w, 1) float32
                    chans = []
                    for c in range(a.shape[2]):
                        ch = Image.fromarray(np.ascontiguousarray(a[..., c]))     # mode F: no clamping
                        if resized:
                            ch = ch.resize(target, lanczos, reducing_gap=3.0)
                        if turn is not None:
                            ch = ch.transpose(turn)
                        chans.append(np.asarray(ch, dtype=np.float32))
                    out = np.stack(chans, axis=-1)
                    if resized:                                           # Lanczos overshoot stays in range
                        np.clip(out, a.min(), a.max(), out=out)
    except _Refused as e:
        if str(e).startswith("has the image mode"):
            raise _Refused(f"{_quote(name)}: {_quote(member)} {e}; save it as an 8-bit or 16-bit PNG.") from None
        raise
    except Exception as e:          # noqa: BLE001 - any failure of the decoder on foreign bytes is the file's
        raise _image_failure(e, name, member) from None
    if out.shape[2] == 3 and (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all():
        out = out[..., :1]                                                # grey stored as RGB
    return np.ascontiguousarray(out), {"alpha": alpha, "resized": resized}


def _counts(values: Sequence[str], top: int = 8) -> str:
    """'a: 3, b: 1' by decreasing count (the `top` most common, then how many more)."""
    from collections import Counter
    common = Counter(values).most_common()
    more = f", … ({len(common) - top} more)" if len(common) > top else ""
    return ", ".join(f"{k}: {n:,}" for k, n in common[:top]) + more


def _hw(hw: tuple[int, int]) -> str:
    return f"{hw[0]}×{hw[1]}"


def _choose_size(sizes: Sequence[tuple[int, int]], chosen: Optional[tuple[int, int]]
                 ) -> tuple[tuple[int, int], str]:
    """(height, width) the images become, and why (for the report)."""
    if chosen is not None:
        return (int(chosen[0]), int(chosen[1])), "as chosen"
    distinct = set(sizes)
    if len(distinct) == 1:
        (h, w), = distinct
        if h <= MAX_NATIVE_SIDE and w <= MAX_NATIVE_SIDE:
            return (h, w), f"the native size, shared by all images and at most {MAX_NATIVE_SIDE}×{MAX_NATIVE_SIDE}"
        return DEFAULT_IMAGE_SIZE, (f"the default, as the images ({_hw((h, w))}) are larger than "
                                    f"{MAX_NATIVE_SIDE}×{MAX_NATIVE_SIDE}; choose another image size to change it")
    return DEFAULT_IMAGE_SIZE, (f"the default, as the images have {len(distinct)} different sizes; choose "
                                f"another image size to change it")


def _scale_images(X: np.ndarray, heads: Sequence[_ImageHead], name: str, chosen: Optional[str],
                  rank: Optional[Sequence[int]] = None) -> tuple[np.ndarray, str]:
    """One scaling rule for the whole archive, applied in place to X (N, C, H, W) float32 in each
    image's own units; returns (X, the rule as a sentence).

    Inferred rule: when every image's type range is known (8-bit, 16-bit, declared unsigned integers)
    and any float images lie within 0–1, each value is divided by its type's maximum ("type") — never by
    an image's own range, so brightness differences between images (and classes) survive.  When no
    image's range is known (32-bit integers without a declared depth: "max", ÷ the archive's largest
    value; floats outside 0–1 or signed integers: "minmax", the archive's smallest → 0 and largest → 1)
    one data-derived rule covers all images.  A mix of the two is refused: no single rule fits."""
    floats = [k for k, h in enumerate(heads) if h.is_float]
    fmin = float(X[floats].min()) if floats else 0.0
    fmax = float(X[floats].max()) if floats else 1.0
    typed = [h.divisor is not None or (h.is_float and 0.0 <= fmin and fmax <= 1.0) for h in heads]
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 1.0)
    rule = chosen
    if rule is None:
        if all(typed):
            rule = "type"
        elif not any(typed):
            rule = "max" if lo >= 0 and not floats else "minmax"
        else:
            first = sorted(range(len(heads)), key=lambda k: k if rank is None else rank[k])  # archive order
            a = next(heads[k] for k in first if typed[k])
            b = next(heads[k] for k in first if not typed[k])
            raise ValueError(
                f"{_quote(name)} mixes images of a known range ({a.depth}, e.g. {_quote(a.member)}) with images whose "
                f"range is not declared ({b.depth}, e.g. {_quote(b.member)}); no single scaling fits both. Save "
                f"them in one format, or choose an image scaling ('max' or 'minmax') for the whole archive.")
    how = "" if chosen is None else " (as chosen)"
    if rule == "type":
        bad = [h for h in heads if h.divisor is None and not h.is_float]
        if bad:
            raise ValueError(f"{_quote(name)}: {_quote(bad[0].member)} is a {bad[0].depth} image, so 'type' scaling has no "
                             f"range to divide by; choose 'max' or 'minmax'.")
        if floats and (fmin < 0.0 or fmax > 1.0):
            raise ValueError(f"{_quote(name)}: float images hold values {fmin:g}–{fmax:g}, outside 0–1, so 'type' "
                             f"scaling cannot keep them; choose 'max' or 'minmax'.")
        div = np.array([1.0 if h.divisor is None else h.divisor for h in heads], dtype=np.float32)
        X /= div[:, None, None, None]
        parts = sorted({(h.divisor, h.depth if h.divisor != 255 else "8-bit") for h in heads if h.divisor},
                       key=lambda t: t[0])
        text = ", ".join(f"{d} ÷ {v:,.0f}" for v, d in parts)
        if floats:
            text += (", " if text else "") + "float values kept (all within 0–1)"
        return X, f"each value ÷ the maximum of its bit depth ({text}), one rule for the whole archive{how}"
    if rule == "max":
        if lo < 0:
            raise ValueError(f"{_quote(name)} holds negative values (down to {lo:g}), so 'max' scaling cannot map "
                             f"them to 0–1; choose 'minmax'.")
        if hi > 0:
            X /= np.float32(hi)
        why = "" if chosen else f", as the images' range is not declared: {_counts([h.depth for h in heads])}"
        return X, (f"every value ÷ {hi:g}, the largest value in the archive (one rule for all images{why})"
                   f"{how}")
    if rule == "minmax":
        if hi > lo:
            X -= np.float32(lo)
            X /= np.float32(hi - lo)
        else:
            X[...] = 0.0
        why = "" if chosen else (", as the float values lie outside 0–1" if floats else
                                 ", as the images hold signed integers")
        return X, (f"(value − {lo:g}) ÷ ({hi:g} − {lo:g}): the archive's smallest value → 0 and largest → 1 "
                   f"(one rule for all images{why}){how}")
    return X, f"none: the values are used as they are ({lo:g}–{hi:g}){how}"


def _uniformity_warnings(X: np.ndarray, what: str, more: Optional[np.ndarray] = None) -> list[str]:
    """Sentences for a (near-)constant image set, from the scaled (N, C, H, W) pixels (X and `more`,
    e.g. an NPZ's X_test, taken together without copying them into one array)."""
    parts = [a for a in (X, more) if a is not None and len(a)]
    n = sum(len(a) for a in parts)
    if n == 0:
        return []
    first = parts[0][:1]
    step = max(1, 2**22 // max(1, int(np.prod(first.shape[1:]))))      # bounded temporaries
    chunks = [a[i:i + step] for a in parts for i in range(0, len(a), step)]
    if n > 1 and all((c == first).all() for c in chunks):
        return [f"All {n:,} images in {what} are identical after loading, so nothing in them can tell the "
                f"classes apart; check the files, and the bit depth and scaling above."]
    low = sum(int((c.reshape(len(c), c.shape[1], -1).std(axis=2).max(axis=1) < NEAR_CONSTANT_STD).sum())
              for c in chunks)                                       # spread across pixels, per channel
    if low > n / 2:
        return [f"{low:,} of {n:,} images in {what} are (nearly) uniform: their pixel values vary by less "
                f"than 1/255 after scaling. Check that they are not blank or saturated, and that the bit "
                f"depth and scaling above are right (e.g. 12-bit data saved in 16-bit files look almost "
                f"black ÷ 65535: choose the image scaling 'max')."]
    return []


def _is_unlabeled_folder(part: str) -> bool:
    """A folder named 'unlabeled' (any case) holds unlabeled images, not a class."""
    return part.lower() == "unlabeled"


def _is_test_folder(part: str) -> bool:
    """A top-level folder named 'test' (any case) holds the supplied test set, as class folders."""
    return part.lower() == "test"


def _load_zip(raw: bytes, name: str, *, task: Optional[str], image_size: Optional[tuple[int, int]],
              seed: int, test_fraction: float, max_rows: int, max_bytes: int,
              options: Optional[ReadOptions] = None) -> Dataset:
    """ZIP with one folder of images per class (optionally under one top folder) → Dataset.

    Unlabeled images (y = -1, always in the pool): those in a folder named ``unlabeled`` (any case)
    beside the class folders, and, when ``options.classes`` is typed or an ``unlabeled/`` folder exists,
    those outside any folder (else refused).  A ZIP with no class folder needs a typed class list.
    A top-level ``test/`` folder (any case, after one common top folder is stripped) of class folders is
    the supplied test set: every image in it labeled by its class folder, the rest the pool, no random
    split (`test_fraction` unused); images directly in ``test/`` or in ``test/unlabeled/`` are refused.
    ``point_ids``: each pool image's member path below the common top folder ("cat/a.png").

    Size: `image_size` (height, width) when given; else the images' native size when they all share
    one up to 64×64; else 28×28.  Values: one scaling rule for the whole archive (:func:`_scale_images`).
    Channels: 3 when any image is in colour (grey images repeated), else 1 (`options.image_channels`
    overrides; colour → grey uses the ITU-R 601 luma weights, as Pillow's "L").  Everything inferred
    is stated in ``dataset.report``."""
    opts = options or ReadOptions()
    if task == "regression":
        raise ValueError(f"{_quote(name)}: a ZIP of class folders is a classification dataset; "
                         f"task='regression' is not possible")
    if image_size is not None:
        try:
            H, W = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be (height, width), got {_quote(image_size)}") from None
        if H < 1 or W < 1:
            raise ValueError(f"image_size must be positive, got {_quote(image_size)}")
        image_size = (H, W)
    report = ReadingReport(file=name, format="ZIP of images")
    zf = _zip_total(raw, name, "ZIP", max_bytes, max_member_bytes=MAX_IMAGE_BYTES,
                    max_ratio=MAX_COMPRESSION_RATIO)
    budget = _PixelBudget(name)
    with zf:
        skipped: dict[str, int] = {}
        infos = []
        for i in zf.infolist():
            if i.is_dir():
                continue
            why = _skip_reason(i.filename)
            if why is None:
                infos.append(i)
            else:
                skipped[why] = skipped.get(why, 0) + 1
        if not infos:
            raise ValueError(f"{_quote(name)} contains no files (expected one folder of images per class)")
        if len(infos) > max_rows:
            raise ValueError(f"{_quote(name)} contains {len(infos)} files; the limit is {max_rows} images")
        parts = [PurePosixPath(i.filename.replace("\\", "/")).parts for i in infos]
        if (all(len(p) >= 2 for p in parts) and any(len(p) >= 3 for p in parts)
                and len({p[0] for p in parts}) == 1 and not _is_unlabeled_folder(parts[0][0])):
            parts = [p[1:] for p in parts]                       # strip one common top folder
        typed = tuple(opts.classes)
        has_unlabeled = any(len(p) >= 2 and _is_unlabeled_folder(p[0]) for p in parts)
        members: list[tuple[Optional[str], zipfile.ZipInfo]] = []   # (class folder or None: unlabeled, member)
        in_test: list[bool] = []                                      # the member is in the test/ folder
        test_folder: Optional[str] = None
        n_folder = n_loose = 0
        for info, p in zip(infos, parts):
            if _extension(p[-1]) in ARCHIVE_EXTENSIONS:
                raise ValueError(f"{_quote(name)}: {_quote(info.filename)} is an archive inside the archive; nested "
                                 f"archives are refused (put the images themselves in the class folders)")
            if _extension(p[-1]) not in IMAGE_EXTENSIONS:
                raise ValueError(f"{_quote(name)}: {_quote(info.filename)} is not an image file (expected "
                                 f"{', '.join(IMAGE_EXTENSIONS)})")
            if len(p) >= 2 and _is_test_folder(p[0]):
                test_folder = p[0]
                if len(p) < 3:
                    raise ValueError(f"{_quote(name)}: image {_quote(info.filename)} is directly in the {_quote(p[0])} "
                                     f"folder; the test set must be class folders ({p[0]}/<class>/<image>) so each "
                                     f"test image has a label. Put it in the folder of its class.")
                if _is_unlabeled_folder(p[1]):
                    raise ValueError(f"{_quote(name)}: image {_quote(info.filename)} is in an unlabeled folder inside "
                                     f"the {_quote(p[0])} folder; every test image needs a label. Put it in the folder "
                                     f"of its class, or move it to the top-level 'unlabeled' folder.")
                members.append((p[1], info))
                in_test.append(True)
                continue
            in_test.append(False)
            if len(p) < 2:
                if not (typed or has_unlabeled):
                    raise ValueError(f"{_quote(name)}: image {_quote(info.filename)} is not inside a class folder; "
                                     f"put each class's images in a folder named after the class, or, if such "
                                     f"images are unlabeled, put them in a folder named 'unlabeled' or type the "
                                     f"class list (they are then unlabeled and you label them in the app)")
                members.append((None, info))
                n_loose += 1
            elif _is_unlabeled_folder(p[0]):
                members.append((None, info))
                n_folder += 1
            else:
                members.append((p[0], info))
        ids = ["/".join(p) for p in parts]
        found = sorted({c for c, _ in members if c is not None})
        is_test = np.array(in_test, dtype=bool)
        if test_folder is not None:
            pool_found = {c for (c, _), t in zip(members, in_test) if c is not None and not t}
            for c in sorted({c for (c, _), t in zip(members, in_test) if t and c not in pool_found}):
                report.warn(f"class {_quote(c)} has images only in the {test_folder}/ folder: it is a class, but the "
                            f"pool has no labeled image of it to learn from")
        if not found and not typed:
            raise ValueError(f"{_quote(name)} has only unlabeled images (no class folders); type the class list "
                             f"(Setup's “Class list”, the CLI's --classes, ReadOptions.classes) to label them yourself "
                             f"(in the app or with the CLI's next), or add one folder of images per class")
        if len(found) < 2 and not typed:
            raise ValueError(f"{_quote(name)} has only one class folder ({_quote(found[0])}); "
                             f"classification needs at least 2")

        def read(info: zipfile.ZipInfo) -> bytes:
            return _read_member(zf, info, name)

        if image_size is not None:        # a chosen size: refused before any header is read (≥ 1 channel)
            _check_image_stack(len(members), opts.image_channels or 1, tuple(image_size), name)
        # pass 1: headers only (sizes, modes, bit depths) → one size and one rule for the archive
        heads = [_image_head(read(info), info.filename, name) for _, info in members]
        size, size_why = _choose_size([h.size_hw for h in heads], image_size)
        n = len(members)
        index = {c: k for k, c in enumerate(found)}
        y = np.array([-1 if c is None else index[c] for c, _ in members], dtype=np.int64)
        if typed:
            y, class_names = _apply_typed(y, found, typed, report, what=_quote(name))
        else:
            class_names = found
            report.classes_source = "from the labeled rows"
        # the split first (it needs only the labels): each image is decoded straight into its row of
        # one (n, C, H, W) array ordered pool-then-test, so the splits are views, not copies
        if test_folder is None:
            pool, test = _split(y, y >= 0, task="classification", classes=class_names,
                                test_fraction=test_fraction, seed=seed, what=repr(name), unit="images",
                                report=report, no_test_ok=bool(typed))
        else:                                   # the test set the archive supplies: no random split
            pool, test = _supplied_split(is_test, y >= 0, what=_quote(name), unit="images",
                                         marker=f"the {test_folder}/ folder", typed=bool(typed))
            report.test_source = (f"supplied: the {len(test)} images in the class folders of the {test_folder}/ "
                                  f"folder; no random split, so test_fraction is not used")
        order = np.concatenate([pool, test])
        row = np.empty(n, dtype=np.int64)
        row[order] = np.arange(n)
        # channels: as chosen, else 3 when any header declares a colour mode (grey stored as RGB is
        # found while decoding, and the stack is then cut to one channel)
        colour_modes = any(h.mode not in _GREY_MODES for h in heads)
        channels = opts.image_channels or (3 if colour_modes else 1)
        _check_image_stack(n, channels, size, name)
        X = np.empty((n, channels, *size), dtype=np.float32)               # (n, C, H, W), pool then test
        # pass 2: decode, each image charged to the archive's pixel budget first
        n_alpha = n_resized = n_colour = 0
        for (_, info), head, k in zip(members, heads, row):
            a, facts = _decode_image(read(info), info.filename, name, size, budget, head)
            n_alpha += facts["alpha"]
            n_resized += facts["resized"]
            n_colour += a.shape[2] == 3
            if a.shape[2] == channels:
                X[k] = np.moveaxis(a, 2, 0)
            elif channels == 3:
                X[k] = a[..., 0][None]                                     # grey repeated in R, G, B
            else:
                X[k, 0] = a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R 601 luma
    if channels == 3 and not n_colour and not opts.image_channels:
        X = np.ascontiguousarray(X[:, :1])                                 # every colour image was grey
        channels = 1
    heads_rows = [heads[i] for i in order]
    y = y[order]
    n_pool = len(pool)
    raw_lo, raw_hi = (float(X.min()), float(X.max()))
    X, scaling = _scale_images(X, heads_rows, name, opts.image_scaling, rank=order)
    report.warnings.extend(_uniformity_warnings(X, repr(name)))
    img = _to_uint8_images(X)                                              # (n, H, W[, 3]) for display

    # the report: everything inferred above
    report.rows_read = n
    report.rows_dropped = [(k, f"archive member(s) skipped as {why}") for why, k in skipped.items()]
    report.classes = {c: int(k) for c, k in zip(class_names, np.bincount(y[y >= 0], minlength=len(class_names)))}
    report.task = "classification"
    if typed:
        report.task_reason = (f"a ZIP of images with a typed class list: {len(class_names)} classes"
                              f" ({len(found)} class folder(s) found)")
    else:
        report.task_reason = (f"a ZIP of class folders: each of the {len(class_names)} folders is a class"
                              + (" (task as chosen)" if opts.task == "classification" else ""))
    report.rows_without_label = n_folder + n_loose
    report.unlabeled_reason = "; ".join(
        ([f"images in the unlabeled/ folder"] if n_folder else [])
        + ([f"images outside any class folder"] if n_loose else []))
    report.inferred.update({"image_size": image_size is None, "image_scaling": opts.image_scaling is None,
                            "image_channels": opts.image_channels is None})
    native = _counts([_hw(h.size_hw) for h in heads])
    im: dict[str, Any] = {
        "size": f"{_hw(size)} (height×width): {size_why}",
        "native sizes": native,
        "resized": f"{n_resized:,} of {n:,} images (Lanczos resampling; 16-bit, integer and float images in floating point)"
                   if n_resized else f"none of {n:,} images",
        "modes": _counts([f"{h.mode} ({_MODE_NAMES.get(h.mode, h.mode)})" for h in heads]),
        "bit depth": _counts([h.depth for h in heads]),
        "value range": f"{raw_lo:g}–{raw_hi:g} before scaling",
        "scaling": scaling + ("" if opts.image_scaling else " (inferred; an image scaling option overrides it)"),
    }
    if channels == 3:
        rule = f"{n_colour:,} colour image(s)" + (f", {n - n_colour:,} grey image(s) repeated in R, G and B"
                                                   if n - n_colour else "")
        im["channels"] = f"3 (RGB): {rule}" + (" (as chosen)" if opts.image_channels else "")
    else:
        im["channels"] = ("1 (grey)" + (f": {n_colour:,} colour image(s) turned grey with the ITU-R 601 luma "
                                        f"weights (as chosen)" if n_colour else "")
                          + (" (as chosen)" if opts.image_channels and not n_colour else ""))
    if n_alpha:
        im["transparency"] = f"{n_alpha:,} image(s) with transparent pixels, composited over white"
    turned = sum(h.orientation != 1 for h in heads)
    if turned:
        im["orientation"] = f"{turned:,} image(s) turned upright by their EXIF orientation"
    notes = sorted({h.note for h in heads if h.note})
    if notes:
        im["notes"] = "; ".join(notes)
    report.image = im
    divisors = {h.divisor for h in heads if h.divisor is not None}
    if len(divisors) > 1 and (opts.image_scaling or "type") == "type":
        report.warn(f"{_quote(name)} mixes bit depths ({_counts([h.depth for h in heads])}); each image is divided by "
                    f"its own type's maximum, so a file saved at another bit depth looks alike. If the classes "
                    f"were saved at different bit depths the model can learn the format instead of the content: "
                    f"check that this is intended.")
    for h in heads:
        if h.divisor and h.divisor > 255 and (opts.image_scaling or "type") == "type":
            top = max(float(raw_hi), 1.0)
            if top < h.divisor / 8:
                report.warn(f"The {h.depth} images in {_quote(name)} use values only up to {top:g} of {h.divisor:,.0f}, "
                            f"so after scaling they lie within 0–{top / h.divisor:.3f} (dark). If the data have "
                            f"fewer bits (e.g. 12-bit from a camera), choose the image scaling 'max'.")
            break
    if image_size is None and size == DEFAULT_IMAGE_SIZE:
        ratios = [h.size_hw[1] / h.size_hw[0] for h in heads]
        off = sum(r > 1.25 or r < 0.8 for r in ratios)
        if off > n / 2:
            report.warn(f"{off:,} of {n:,} images in {_quote(name)} are not square, and are stretched to "
                        f"{_hw(size)}; choose an image size with their proportions to keep them.")

    return _finish(name=name, source=f"file:{name}", task="classification", X=X[:n_pool], y=y[:n_pool],
                   X_test=X[n_pool:], y_test=y[n_pool:], classes=class_names, images=img[:n_pool],
                   images_test=img[n_pool:], report=report, fresh=True,
                   point_ids=[ids[i] for i in order[:n_pool]])
