"""The google-maps palette's colours measured on the pix2pix maps sample, and how well ``snap_rendered_map`` snaps.

Usage:  .venv/bin/python benchmarks/map_palette.py [--shared ../shared/data]

Prints the markdown tables of docs/data.md ("Google-map colour maps"):

1. Colours: the map half of ``pix2pix-tf-samples/docs/maps.jpg`` clustered with k-means (k=5,
   scikit-learn, 4 starts, seed 0) in CIELAB; for each cluster its share of the pixels, the share
   of "interior" pixels (whose 5x5 neighbourhood is all that cluster, so neither edges nor text),
   their median RGB and spread, and the nearest palette class with its CIELAB distance.
2. Snapping on the real sample: class shares, agreement with the clusters on their interior pixels,
   and agreement with the snapping of the same map JPEG-encoded once more (quality 90, 75, 50).
3. Snapping on synthetic renders (the test's: polygons, rectangles and roads drawn at 4x with PIL,
   box-downsampled, JPEG quality 75) against the majority class of each pixel's 4x4 block, for
   ``snap_rendered_map`` and for the nearest colour in RGB without clean-up.

Numbers only: no picture of the sample is written (its licence).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sklearn.cluster import KMeans

from cimgen.palette import GOOGLE_MAPS_PALETTE, colors_to_labels, rgb_to_lab, snap_rendered_map

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_palette import synthetic_rendered_map


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()
    pal = GOOGLE_MAPS_PALETTE
    im = np.asarray(Image.open(args.shared / "pix2pix-tf-samples/docs/maps.jpg").convert("RGB"))
    gmap = np.ascontiguousarray(im[:, im.shape[1] // 2 :])
    lab = rgb_to_lab(gmap)
    km = KMeans(5, n_init=4, random_state=0).fit(lab.reshape(-1, 3))
    clusters = km.labels_.reshape(gmap.shape[:2])
    pal_lab = rgb_to_lab(np.asarray(pal.colors, np.uint8))
    print("| cluster | pixels | interior | interior median RGB | interior std RGB | nearest class (delta E) |")
    print("|---:|---:|---:|---|---|---|")
    interior = np.zeros(clusters.shape, bool)
    ref = np.zeros(clusters.shape, np.int64)
    for c in np.argsort(-np.bincount(km.labels_)):
        here = clusters == c
        inner = cv2.erode(here.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        interior |= inner
        d = np.linalg.norm(km.cluster_centers_[c] - pal_lab, axis=1)
        ref[here] = d.argmin()
        px = gmap[inner] if inner.any() else gmap[here]
        print(
            f"| {c} | {here.mean():.3f} | {inner.mean():.3f} | {tuple(int(v) for v in np.median(px, 0))} | "
            f"{tuple(round(float(v), 1) for v in px.std(0))} | {pal.names[d.argmin()]} ({d.min():.1f}) |"
        )
    labels, counts = snap_rendered_map(gmap, pal)
    print()
    print("| class | share of the snapped sample |")
    print("|---|---:|")
    for i, name in enumerate(pal.names):
        print(f"| {name} | {(labels == i).mean():.4f} |")
    print()
    print(f"snap counts: {counts}")
    print(
        f"agreement with the clusters on their interior pixels ({interior.mean():.3f} of the map): {(labels == ref)[interior].mean():.4f}"
    )
    for q in (90, 75, 50):
        again, _ = snap_rendered_map(jpeg(gmap, q), pal)
        print(f"agreement with the snapping of the map JPEG-encoded again at quality {q}: {(again == labels).mean():.4f}")
    print()
    print("| render seed | snap_rendered_map | nearest RGB colour, no clean-up |")
    print("|---:|---:|---:|")
    for seed in range(8):
        rgb, truth = synthetic_rendered_map(seed)
        ours = (snap_rendered_map(rgb, pal)[0] == truth).mean()
        plain = (colors_to_labels(rgb, pal, tolerance=float("inf")) == truth).mean()
        print(f"| {seed} | {ours:.4f} | {plain:.4f} |")


if __name__ == "__main__":
    main()
