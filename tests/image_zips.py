"""Small image ZIPs made in the tests: `png(seed)` an 8×8 grey PNG of seeded noise, `zip_of(names)` a ZIP
holding one such PNG under each member name (folders come from the names)."""

from __future__ import annotations

import io
import zipfile

import numpy as np


def png(seed: int) -> bytes:
    from PIL import Image
    a = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    b = io.BytesIO()
    Image.fromarray(a).save(b, "PNG")
    return b.getvalue()


def zip_of(names) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for i, n in enumerate(names):
            z.writestr(n, png(i))
    return b.getvalue()
