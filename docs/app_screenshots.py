"""Make the web editor's screenshots in docs/images/: start ``cimgen app``, drive it in headless Chromium, save PNGs.

Usage: python docs/app_screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]

It loads the first bundled example, paints a stroke of ``ground`` across the map, removes
the object under one click, runs the manipulation with the Laplacian blend and the
noise-inconsistency heatmap, and takes the editor page. Then it makes a small forgery set
from the synthetic world (``cimgen detect forgeries``' library call) for the "spot the fake"
tab, answers one image, and takes that tab.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app.conftest import CHROMIUM_ARGS, Server  # noqa: E402  (the same server and browser set-up as the tests)


def _building_in_top_half() -> tuple[float, float]:
    """Where (as fractions of the side) the largest building in the top fifth of the first example lies."""
    import numpy as np
    from scipy import ndimage

    from cimgen.app.session import example_scene
    from cimgen.data.synth import BUILDING

    labels = example_scene(0).labels
    comps, n = ndimage.label(labels == BUILDING)
    best = None
    for i in range(1, n + 1):
        ys, xs = np.nonzero(comps == i)
        if ys.mean() < labels.shape[0] / 5 + 10 and (best is None or len(ys) > best[0]):
            best = (len(ys), (xs.mean() + 0.5) / labels.shape[1], (ys.mean() + 0.5) / labels.shape[0])
    return best[1], best[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    out = Path(args.out)
    from playwright.sync_api import sync_playwright

    from cimgen.forensics.forgeries import synthetic_forgeries

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("making a small forgery set for the study tab", flush=True)
        study = synthetic_forgeries(tmp / "study", count=4, size=256, seed=11)
        print("starting cimgen app", flush=True)
        srv = Server(tmp / "work", "--study", str(study))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                pg = browser.new_page(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
                pg.set_default_timeout(120_000)
                pg.goto(srv.url)
                pg.click("#load-example")
                pg.wait_for_function("document.querySelector('#status').innerText.includes('Loaded')")
                time.sleep(1)
                c = pg.locator("#map-editor canvas").first.bounding_box()
                cx, cy = c["x"] + c["width"] / 2, c["y"] + c["height"] / 2
                pg.mouse.move(cx - 60, cy - 30)
                pg.mouse.down()
                for i in range(1, 25):
                    pg.mouse.move(cx - 60 + 5 * i, cy - 30 + 2.5 * i)
                pg.mouse.up()
                box = pg.locator("#click-map img").bounding_box()
                # a click on a building of the map picture, away from the stroke: that building is removed
                fx, fy = _building_in_top_half()
                pg.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                pg.wait_for_function("document.querySelector('#status').innerText.includes('Removed')")
                pg.click("#blend label:has-text('laplacian')")
                pg.click("#detector input")
                pg.get_by_role("option", name="noise inconsistency (no training)").click()
                pg.click("#run")
                pg.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
                time.sleep(2)
                pg.screenshot(path=str(out / "app_editor.png"), full_page=True)
                print(f"wrote {out / 'app_editor.png'}", flush=True)
                pg.get_by_role("tab", name="Spot the fake").click()
                pg.click("#study-folder input")
                pg.get_by_role("option", name=str(study)).click()
                pg.fill("#participant textarea, #participant input", "demo")
                pg.click("#study-start")
                pg.wait_for_function("document.querySelector('#study-info').innerText.includes('Image 1 of')")
                img = pg.locator("#study-image img").bounding_box()
                pg.mouse.click(img["x"] + img["width"] * 0.5, img["y"] + img["height"] * 0.5)
                pg.click("#answer-manipulated")
                pg.wait_for_function("document.querySelector('#study-info').innerText.includes('Image 2 of')")
                time.sleep(1)
                pg.screenshot(path=str(out / "app_study.png"), full_page=True)
                print(f"wrote {out / 'app_study.png'}", flush=True)
                browser.close()
        finally:
            srv.stop()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
