"""Run every file-reading CLI command on every corpus item that fits one of its inputs, and record what happened.

Usage: python -m tests.corpus.matrix [--write docs/reliability-corpus.md]

A command is a template with slots (image, map, mask, spec, config, checkpoint, official,
palette); each slot has a good default, and each corpus item of the slot's kind is put in
its place in turn. The outcome is clean when:
- a bad item ends with exit status 2 and exactly one line on stderr, ``cimgen: error: ...``,
  with no traceback, and leaves no output behind (the output path does not exist, or is an
  empty folder);
- a legitimate item (RGBA, EXIF-rotated, 16-bit, CMYK, ...) ends with status 0.
Nothing in the corpus may create the pickle marker file.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.corpus.make_corpus import MARKER_NAME, Item, good_image, good_labels, make_corpus


@dataclass(frozen=True)
class Command:
    """A CLI command with slots for corpus items."""

    name: str
    template: tuple[str, ...]
    """argv with ``{slot}`` and ``{out}`` placeholders."""
    slots: dict[str, tuple[str, ...]]
    """slot -> the item kinds tried in it (an image slot also takes every image item)."""
    legit_ok: bool = True
    """Whether a legitimate item of the slot's own kind must succeed here."""
    expect: dict[str, str] = field(default_factory=dict)
    """Per item name, an outcome other than the default: 'ok' or 'error'."""


@dataclass
class Outcome:
    command: str
    slot: str
    item: Item
    rc: int
    stderr: str
    expected: str
    clean: bool
    why: str
    seconds: float


def setup_base(base: Path) -> dict[str, Path]:
    """Good inputs for every slot, and the models the commands need."""
    from cimgen.data.synth import SynthConfig, write_world
    from cimgen.generators import shipped_checkpoint
    from cimgen.io.images import write_image, write_label_map
    from cimgen.palette import SYNTH_PALETTE

    base.mkdir(parents=True, exist_ok=True)
    good: dict[str, Path] = {}
    good["image"] = write_image(base / "image.png", good_image())
    good["map"] = write_label_map(base / "map.png", good_labels())
    edited = good_labels().copy()
    edited[40:56, 4:20] = 4  # a patch of vegetation
    good["edited_map"] = write_label_map(base / "edited_map.png", edited)
    mask = good_labels() == 2
    good["mask"] = write_image(base / "mask.png", mask.astype(np.uint8) * 255)
    (base / "spec.yaml").write_text("edits:\n  - {op: insert, class: water, box: [2, 30, 20, 44]}\n")
    good["spec"] = base / "spec.yaml"
    (base / "palette.json").write_text(__import__("json").dumps(SYNTH_PALETTE.to_dict()))
    good["palette"] = base / "palette.json"
    world = write_world(base / "world", 2, SynthConfig(height=32, width=32, seed=3))
    good["world"] = world
    (base / "config.yaml").write_text(
        f"data: {{root: {world}, label_nc: 6}}\ngenerator: {{base_channels: 4, num_downsamplings: 2, num_blocks: 1}}\n"
        "loop: {epochs: 1, decay_epochs: 0, batch_size: 1}\n"
    )
    good["config"] = base / "config.yaml"
    good["checkpoint"] = shipped_checkpoint()
    good["official"] = base / "unused.pth"  # import-official has no other input, so only corpus items go in
    from tests.conftest import tiny_cyclegan

    good["cyclegan"] = tiny_cyclegan(world, base / "cyclegan")
    from cimgen.cli.main import main
    from cimgen.singan.config import schedule_config
    from cimgen.singan.train import train_singan

    cfg = schedule_config("fast", {"max_size": 48, "min_size": 16, "iters": 2, "nfc": 4, "max_nfc": 4, "num_scales": 3})
    good["singan"] = base / "singan"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train_singan(good_image(), cfg, good["singan"])
    # a small patch dataset for `detect evaluate`: four scenes, pristine and a brightened "generated" copy
    pristine, generated = base / "pairs" / "pristine", base / "pairs" / "generated"
    for i in range(4):
        img = np.roll(good_image(), 7 * i, axis=1)
        write_image(pristine / f"s{i}.png", img)
        write_image(generated / f"s{i}.png", np.clip(img.astype(int) + 30, 0, 255).astype(np.uint8))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert (
            main(
                ["detect", "dataset", "--pristine", str(pristine), "--generated", str(generated), "--out", str(base / "patches"), "--quiet"]
            )
            == 0
        )
    good["patches"] = base / "patches"
    return good


def commands(good: dict[str, Path]) -> list[Command]:
    """The file-reading commands, each with its slots."""
    singan_set = ["--set", "max_size=48", "--set", "min_size=16", "--set", "iters=2", "--set", "nfc=4", "--set", "max_nfc=4"]
    return [
        Command(
            "edit",
            ("edit", "--map", "{map}", "--palette", "{palette}", "--spec", "{spec}", "--out", "{out}"),
            {"map": ("map", "image"), "palette": ("palette",), "spec": ("spec",)},
        ),
        Command(
            "manipulate",
            (
                "manipulate",
                "--checkpoint",
                "{checkpoint}",
                "--image",
                "{image}",
                "--map",
                "{map}",
                "--spec",
                "{spec}",
                "--mask",
                "{mask}",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"image": ("image",), "map": ("map",), "spec": ("spec",), "mask": ("mask",), "checkpoint": ("checkpoint",)},
            expect={"mask_full.png": "ok"},
        ),
        Command(
            "translate",
            ("translate", "--checkpoint", "{checkpoint}", "--images", "{image_dir}", "--direction", "AtoB", "--out", "{out}"),
            {"image": ("image",), "checkpoint": ("checkpoint",)},
            # it has no map to match; 8x8 is above this tiny generator's minimum (5 pixels a side), 1x1 is not
            expect={"image_other_size.png": "ok", "image_8x8.png": "ok"},
        ),
        Command(
            "evaluate-inpainting",
            ("evaluate-inpainting", "--reference", "{image}", "--result", str(good["image"]), "--mask", "{mask}", "--out", "{out}"),
            {"image": ("image",), "mask": ("mask",)},
            expect={"mask_full.png": "ok"},  # scoring a whole-image fill is legitimate
        ),
        Command("import-official", ("import-official", "{official}", "--out", "{out}"), {"official": ("official",)}),
        Command("export-official", ("export-official", "{checkpoint}", "--out", "{out}/x.pth"), {"checkpoint": ("checkpoint",)}),
        Command("train --dry-run", ("train", "--config", "{config}", "--out", "{out}", "--dry-run"), {"config": ("config",)}),
        Command(
            "train on a folder",
            ("train", "--config", str(good["config"]), "--data", "{dataset_dir}", "--out", "{out}", "--quiet"),
            {"image": ("image",), "map": ("map", "image")},
        ),
        Command(
            "finetune",
            (
                "finetune",
                "--from",
                "{checkpoint}",
                "--data",
                str(good["world"]),
                "--epochs",
                "1",
                "--decay-epochs",
                "0",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"checkpoint": ("checkpoint",)},
        ),
        Command(
            "detect heatmap",
            ("detect", "heatmap", "--image", "{image}", "--detector", "{checkpoint}", "--mask", "{mask}", "--out", "{out}", "--quiet"),
            {"image": ("image",), "mask": ("mask",), "checkpoint": ("checkpoint",)},
            # the heatmap is made and its localisation scores say they are undefined; a detector is what it takes
            expect={"mask_empty.png": "ok", "mask_full.png": "ok", "ckpt_detector": "ok"},
        ),
        Command(
            "singan train",
            ("singan", "train", "{image}", "--schedule", "fast", *singan_set, "--mask", "{mask}", "--out", "{out}", "--quiet"),
            {"image": ("image",), "mask": ("mask",)},
        ),
        Command(
            "evaluate",
            (
                "evaluate",
                "--real",
                "{image}",
                "--fake",
                str(good["image"]),
                "--mask",
                "{mask}",
                "--patch-size",
                "32",
                "--stride",
                "32",
                "--kid-subsets",
                "2",
                "--no-cache",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"image": ("image",), "mask": ("mask",)},
            expect={"mask_empty.png": "ok"},  # nothing edited: every patch is compared
        ),
        Command(
            "detect dataset",
            (
                "detect",
                "dataset",
                "--pristine",
                "{image_dir}",
                "--generated",
                "{twin_dir}",
                "--val-fraction",
                "0.5",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"image": ("image",)},
        ),
        Command(
            "detect evaluate",
            ("detect", "evaluate", "--detector", "{checkpoint}", "--data", str(good["patches"]), "--out", "{out}", "--quiet"),
            {"checkpoint": ("checkpoint",)},
            expect={"ckpt_detector": "ok"},
        ),
        Command(
            "detect train",
            (
                "detect",
                "train",
                "--data",
                str(good["patches"]),
                "--arch",
                "patchnet",
                "--init-from",
                "{checkpoint}",
                "--epochs",
                "1",
                "--set",
                "detector.stage1_channels=4",
                "--set",
                "detector.stage2_channels=4",
                "--set",
                "loop.batch_size=4",
                "--set",
                "loop.tensorboard=false",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"checkpoint": ("checkpoint",)},
            expect={"ckpt_detector": "ok"},
        ),
        Command(
            "detect robustness",
            (
                "detect",
                "robustness",
                "--detector",
                "{checkpoint}",
                "--data",
                str(good["patches"]),
                "--op",
                "gamma",
                "--max-patches",
                "4",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"checkpoint": ("checkpoint",)},
            expect={"ckpt_detector": "ok"},
        ),
        Command(
            "detect forgeries",
            ("detect", "forgeries", "--checkpoint", "{checkpoint}", "--count", "2", "--size", "64", "--out", "{out}", "--quiet"),
            {"checkpoint": ("checkpoint",)},
        ),
        Command(
            "manipulate --edited-map",
            (
                "manipulate",
                "--checkpoint",
                str(good["checkpoint"]),
                "--image",
                "{image}",
                "--map",
                str(good["map"]),
                "--edited-map",
                "{map}",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"map": ("map", "image"), "image": ("image",)},
        ),
        Command(
            "edit --edited-map",
            ("edit", "--map", str(good["map"]), "--palette", "synth", "--edited-map", "{map}", "--out", "{out}"),
            {"map": ("map", "image")},
        ),
        Command(
            "demo",
            (
                "demo",
                "--checkpoint",
                "{checkpoint}",
                "--size",
                "64",
                "--tiles",
                "2",
                "--epochs",
                "1",
                "--decay-epochs",
                "0",
                "--out",
                "{out}",
                "--quiet",
            ),
            {"checkpoint": ("checkpoint",)},
        ),
        Command("singan sample", ("singan", "sample", "{checkpoint}", "--count", "1", "--out", "{out}"), {"checkpoint": ("checkpoint",)}),
        Command(
            "singan edit",
            ("singan", "edit", str(good["singan"]), "{image}", "--mask", "{mask}", "--out", "{out}"),
            {"image": ("image",), "mask": ("mask",)},
        ),
        Command(
            "singan inpaint",
            (
                "singan",
                "inpaint",
                "{image}",
                "--model",
                str(good["singan"]),
                "--mask",
                "{mask}",
                "--reference",
                "{reference}",
                "--out",
                "{out}",
            ),
            {"image": ("image",), "mask": ("mask",), "reference": ("image",)},
        ),
    ]


def _defaults(good: dict[str, Path], command: Command) -> dict[str, str]:
    d = {k: str(v) for k, v in good.items()}
    d["reference"] = d["image"]
    if command.name == "translate":
        d["checkpoint"] = str(good["cyclegan"])
    if command.name == "singan sample":
        d["checkpoint"] = str(good["singan"])
    if command.name == "manipulate --edited-map":
        d["map"] = str(good["edited_map"])
    if command.name in ("detect heatmap", "detect evaluate"):
        from tests.app.conftest import untrained_detector

        folder = good["image"].parent / "detector"
        if not folder.exists():
            untrained_detector(folder)
        d["checkpoint"] = str(folder)
    return d


def run_one(argv: list[str]) -> tuple[int, str]:
    from cimgen.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


def judge(rc: int, stderr: str, out: Path, expected: str) -> tuple[bool, str]:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("warning:", "  warnings.warn"))]
    if "Traceback" in stderr:
        return False, "traceback"
    if expected == "ok":
        return (rc == 0, "ok" if rc == 0 else f"failed: {lines[-1] if lines else rc}")
    if rc != 2:
        return False, f"exit status {rc}"
    if len(lines) != 1 or not lines[0].startswith("cimgen: error: "):
        return False, f"stderr was {len(lines)} lines"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        return False, "left output behind"
    return True, "clean error"


def fits(slot: str, kinds: tuple[str, ...], item: Item) -> bool:
    """Whether the matrix puts ``item`` in a slot taking ``kinds``; a legitimate picture goes only where an image goes (not a bad map)."""
    return item.kind in kinds and not (slot != "image" and item.kind == "image" and item.legit)


def declared_runs(items: list[Item], cmds: list[Command]) -> list[tuple[str, str, str]]:
    """(command, slot, item name) of every run the matrix declares, in the order ``run_matrix`` makes them."""
    return [(c.name, slot, item.name) for c in cmds for slot, kinds in c.slots.items() for item in items if fits(slot, kinds, item)]


def run_matrix(root: Path, *, progress=None, only: set[str] | None = None) -> list[Outcome]:
    """Make the corpus and the good inputs under ``root`` and run every command on every fitting item (or the items named in ``only``)."""
    items = make_corpus(root / "corpus")
    if only is not None:
        items = [i for i in items if i.name in only]
    good = setup_base(root / "base")
    outcomes: list[Outcome] = []
    n = 0
    for command in commands(good):
        defaults = _defaults(good, command)
        for slot, kinds in command.slots.items():
            for item in items:
                if not fits(slot, kinds, item):
                    continue
                n += 1
                values = dict(defaults)
                values[slot] = str(item.path)
                out = root / "outs" / f"{n:04d}"
                values["out"] = str(out)
                if "{image_dir}" in command.template:
                    folder, twin = root / "dirs" / f"{n:04d}", root / "twins" / f"{n:04d}"
                    folder.mkdir(parents=True)
                    src = Path(values["image"])
                    if src.is_file():
                        (folder / src.name).write_bytes(src.read_bytes())
                    from cimgen.io.images import write_image

                    write_image(twin / f"{src.stem}.png", good_image())  # the generated twin of the same scene
                    write_image(folder / "zz_second.png", good_image())  # a second scene, so the set can be split
                    write_image(twin / "zz_second.png", good_image())
                    values["image_dir"], values["twin_dir"] = str(folder), str(twin)
                if "{dataset_dir}" in command.template:
                    from cimgen.io.images import write_image, write_label_map

                    folder = root / "datasets" / f"{n:04d}"
                    image, labels = Path(values["image"]), Path(values["map"])
                    (folder / "images").mkdir(parents=True)
                    (folder / "labels").mkdir(parents=True)
                    (folder / "images" / f"x{image.suffix}").write_bytes(image.read_bytes())
                    (folder / "labels" / f"x{labels.suffix}").write_bytes(labels.read_bytes())
                    write_image(folder / "images" / "zz.png", good_image())  # a second, good pair
                    write_label_map(folder / "labels" / "zz.png", good_labels())
                    values["dataset_dir"] = str(folder)
                argv = [part.format(**values) for part in command.template]
                legit = item.legit and item.kind == {"reference": "image"}.get(slot, slot)
                expected = command.expect.get(item.name, "ok" if legit and command.legit_ok else "error")
                t0 = time.perf_counter()
                rc, err = run_one(argv)
                clean, why = judge(rc, err, out, expected)
                if clean:  # judged: free the disk (a training command leaves a ~66 MB checkpoint per run)
                    shutil.rmtree(out, ignore_errors=True)
                outcomes.append(Outcome(command.name, slot, item, rc, err.strip(), expected, clean, why, time.perf_counter() - t0))
                if progress:
                    progress(outcomes[-1])
    if (root / "corpus" / MARKER_NAME).exists() or Path(MARKER_NAME).exists():
        raise AssertionError("a pickle payload from the corpus ran")
    return outcomes


def markdown(outcomes: list[Outcome]) -> str:
    """The corpus x command table for docs/reliability.md."""
    cmds = list(dict.fromkeys(o.command for o in outcomes))
    items = list(dict.fromkeys(o.item.name for o in outcomes))
    cell = {}
    for o in outcomes:
        mark = ("ok" if o.expected == "ok" else "error") if o.clean else f"**{o.why}**"
        cell.setdefault((o.item.name, o.command), []).append(
            f"{mark} ({o.slot})" if len({x.slot for x in outcomes if x.command == o.command and x.item.name == o.item.name}) > 1 else mark
        )
    what = {o.item.name: o.item.what for o in outcomes}
    rows = ["| item | what it is | " + " | ".join(cmds) + " |", "|---|---|" + "---|" * len(cmds)]
    for it in items:
        rows.append(f"| `{it}` | {what[it]} | " + " | ".join(", ".join(cell.get((it, c), ["·"])) for c in cmds) + " |")
    clean = sum(o.clean for o in outcomes)
    head = (
        f"{len(outcomes)} runs ({len(items)} items x {len(cmds)} commands, where the item fits an input of the command): {clean} clean.\n\n"
    )
    return head + "\n".join(rows) + "\n"


def main() -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description="Run the bad-input corpus through the CLI.")
    ap.add_argument("--write", help="write the Markdown table to this file")
    ap.add_argument("--items", nargs="+", help="run only these corpus items (by name), e.g. while fixing them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_matrix(
            Path(tmp),
            progress=lambda o: print(f"{o.command:22s} {o.slot:10s} {o.item.name:28s} {o.why}", flush=True),
            only=set(args.items) if args.items else None,
        )
    text = markdown(outcomes)
    print(text)
    if args.write:
        Path(args.write).write_text(text)
        print(f"table written to {args.write}")
    sys.exit(0 if all(o.clean for o in outcomes) else 1)


if __name__ == "__main__":
    main()
