"""Make ``docs/images/web_app.png``: the web app in headless Chromium, with the browser test's helpers.

Starts ``adain-nst serve`` on a free port of 127.0.0.1, uploads the bundled sample photo
``coffee``, picks the bundled painting ``van_gogh_wheat_field_with_cypresses``, renders the
full-size result and screenshots the page. Needs the web extra, selenium and Debian's
``chromium`` / ``chromium-driver`` (see ``tests/web/browser.py``).

    python docs/gen_web_screenshot.py [--out docs/images/web_app.png]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

from PIL import Image

from adain_nst import samples

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "web_app.png"
WIDTH, HEIGHT = 1400, 1500


def _browser_helpers() -> ModuleType:
    """``tests/web/browser.py`` as a module (tests/ is not an installed package)."""
    spec = importlib.util.spec_from_file_location("web_browser", ROOT / "tests" / "web" / "browser.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"PNG to write (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    b = _browser_helpers()
    if reason := b.missing():
        print(f"cannot take the screenshot: {reason}", file=sys.stderr)
        return 2
    with b.served_app() as url:
        driver = b.make_driver(WIDTH, HEIGHT)
        try:
            b.open_app(driver, url)
            b.upload(driver, "content-upload", samples.path("coffee"))
            b.wait_status(driver, "coffee.jpg", elem_id="content-status")
            b.pick_style(driver, "van_gogh_wheat_field_with_cypresses")
            b.click(driver, "full")
            b.wait_status(driver, "Result:", timeout=120)
            b.result_size(driver)
            driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur();")
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
    # 256 colours, dithered: the page's text stays sharp and the file a quarter of the size.
    shot = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, Image.Quantize.MEDIANCUT)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(args.out, optimize=True)
    print(f"wrote {args.out} ({shot.width} x {shot.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
