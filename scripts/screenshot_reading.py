"""Screenshots of Setup's "How your file was read" for a European CSV (';', decimal commas,
Windows-1252, a class called NA) and a ZIP of 16-bit PNGs, in Debian Chromium (assets/).

    .venv/bin/python scripts/screenshot_reading.py

Both files are generated here (nothing is downloaded).
"""

import io
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser.harness import chromium, running_app  # noqa: E402


def european_csv() -> bytes:
    rng = np.random.default_rng(0)
    lines = ["Temperatur;Druck hPa;Feuchte;Preis €;Region"]
    for i in range(240):
        region = ["NA", "EU", "AS"][i % 3]
        t = 15 + 5 * (i % 3) + rng.normal()
        lines.append(f"{t:.1f};{1000 + rng.normal() * 8:.2f};{rng.uniform(20, 90):.0f};"
                     f"{rng.uniform(900, 4000):,.2f};{region}".replace(",", "X").replace(".", ",").replace("X", "."))
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def png16_zip() -> bytes:
    from PIL import Image
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, (lo, hi) in {"dim": (1000, 20000), "bright": (40000, 65000)}.items():
            for k in range(30):
                a = rng.integers(lo, hi, size=(16, 16)).astype(np.uint16)
                b = io.BytesIO()
                Image.fromarray(a).save(b, format="PNG")          # uint16 → a 16-bit greyscale PNG
                zf.writestr(f"scans/{cls}/img{k:02d}.png", b.getvalue())
    return buf.getvalue()


def shot(page, url: str, path: Path, name: str, data: bytes) -> None:
    page.goto(f"{url}/setup", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Setup").first.wait_for()
    page.get_by_role("radio", name="Upload a file").click()
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / name
        f.write_bytes(data)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(f))
        page.get_by_text("How your file was read").first.wait_for(timeout=120_000)
        page.wait_for_timeout(2500)
        box = page.locator('[data-testid="stVerticalBlock"]', has_text="How your file was read").last
        box.scroll_into_view_if_needed()
        box.screenshot(path=str(path))


def main() -> None:
    with running_app("streamlit-screenshot-reading.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.set_default_timeout(120_000)
        shot(page, url, ROOT / "assets" / "reading-european-csv.png", "messwerte.csv", european_csv())
        shot(page, url, ROOT / "assets" / "reading-16bit-zip.png", "scans16.zip", png16_zip())
    print("assets/reading-european-csv.png, assets/reading-16bit-zip.png")


if __name__ == "__main__":
    main()
