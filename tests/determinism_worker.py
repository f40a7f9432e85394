"""One pass of the determinism check: synthetic data, CPU training, a manipulation and its metrics, all from seed 7.

Usage: python tests/determinism_worker.py OUT

tests/test_determinism.py runs this twice, in fresh processes with different hash seeds,
and compares what the two passes wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

SEED = 7


def main(out: Path) -> None:
    from cimgen.cli.main import main as cli

    def run(*argv: str) -> None:
        rc = cli([str(a) for a in argv])
        if rc != 0:
            raise SystemExit(f"cimgen {' '.join(map(str, argv))} failed with {rc}")

    world = out / "world"
    run("data", "synth", "--out", world, "--count", "4", "--size", "128", "--seed", SEED)
    config = {
        "model": "pix2pixhd",
        "data": {"root": str(world), "label_nc": 6, "crop_size": 0, "flip": True},
        "generator": {"base_channels": 4, "num_downsamplings": 2, "num_blocks": 1},
        "discriminator": {"base_channels": 4, "num_layers": 2, "num_discriminators": 2},
        "loop": {"epochs": 2, "decay_epochs": 1, "batch_size": 2, "seed": SEED, "tensorboard": False},
    }
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    run("train", "--config", out / "config.yaml", "--out", out / "run", "--quiet")
    image, labels = world / "images" / "tile_00000.png", world / "labels" / "tile_00000.png"
    run("manipulate", "--checkpoint", out / "run", "--image", image, "--map", labels, "--insert", "water", "--shape", "ellipse",
        "--box", "10,10,40,30", "--blend", "poisson", "--out", out / "edit", "--quiet")  # fmt: skip
    run(
        "evaluate",
        out / "edit",
        "--out",
        out / "eval",
        "--patch-size",
        "32",
        "--stride",
        "16",
        "--kid-subsets",
        "2",
        "--no-cache",
        "--quiet",
    )
    run("evaluate-inpainting", "--reference", image, "--result", out / "edit" / "result.png", "--mask", out / "edit" / "mask_raw.png",
        "--out", out / "inpaint")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
