"""The one table of checkpoint kinds against what the commands write and read, and a manipulation that reads each file once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from cimgen.cli.main import main
from cimgen.errors import CimgenError
from cimgen.generators import load_image_generator, load_renderer, translate
from cimgen.io.checkpoints import read_config
from cimgen.io.images import read_image
from cimgen.kinds import IMAGE, KINDS, LABELS, checkpoint_kind
from cimgen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig, UnetGenerator, UnetGeneratorConfig
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, LocalEnhancer, LocalEnhancerConfig
from cimgen.palette import SYNTH_PALETTE
from cimgen.train.pix2pix import resolve_config as pix2pix_config
from cimgen.train.pix2pix import run_pix2pix
from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
from cimgen.train.recipes import RECIPES, get_recipe
from tests.conftest import tiny_cyclegan, tiny_train_config
from tests.train.test_pix2pix import tiny, write_pairs


def _official(tmp: Path, name: str, module: torch.nn.Module, *extra: str) -> Path:
    """Save ``module`` as an official file and import it with ``cimgen import-official``."""
    torch.save(module.state_dict(), tmp / f"{name}.pth")
    out = tmp / name
    assert main(["import-official", str(tmp / f"{name}.pth"), "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def written(tiny_world, tmp_path_factory) -> dict[str, Path]:
    """One checkpoint of every kind, each written the way a command writes it (training or import-official)."""
    tmp = tmp_path_factory.mktemp("kinds")
    (tmp / "synth.json").write_text(json.dumps(SYNTH_PALETTE.to_dict()))
    label_opts = ("--label-nc", "6", "--palette", str(tmp / "synth.json"))
    pairs = write_pairs(tmp / "pairs" / "train", 2, 36).parent
    out = {
        "pix2pixhd": run_pix2pixhd(
            resolve_config(tiny_train_config(tiny_world, epochs=1, decay_epochs=0)), tmp / "p2phd", echo=None, progress=False
        ),
        "cyclegan": tiny_cyclegan(tiny_world, tmp / "cyc"),
        "pix2pix": run_pix2pix(pix2pix_config(tiny(pairs, decay_epochs=0)), tmp / "p2p", echo=None, progress=False),
        "pix2pixhd-global": _official(
            tmp, "global", GlobalGenerator(GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=2, num_blocks=1)),
            *label_opts,
        ),
        "pix2pixhd-local": _official(
            tmp, "local",
            LocalEnhancer(LocalEnhancerConfig(in_channels=6, base_channels=2, num_downsamplings_global=2, num_blocks_global=1, num_blocks_local=1)),
            *label_opts,
        ),
        "junyanz-resnet": _official(tmp, "resnet", ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=2))),
        "junyanz-unet": _official(tmp, "unet", UnetGenerator(UnetGeneratorConfig(base_channels=2, num_downs=6))),
    }  # fmt: skip
    return out


def test_every_kind_the_commands_write_is_in_the_one_table(written):
    assert {read_config(path)["model"] for path in written.values()} == set(KINDS)
    for name, path in written.items():
        assert checkpoint_kind(read_config(path), str(path)).name == name
    # Every kind fine-tunes with a recipe of the literal recipe table.
    assert {get_recipe(name) for name in KINDS} <= set(RECIPES.values())
    with pytest.raises(CimgenError, match="holds a 'nope' model; cimgen knows pix2pixhd"):
        checkpoint_kind({"model": "nope"}, "x")


def test_every_kind_loads_in_every_command_that_takes_a_generator(written, tiny_world, tmp_path, capsys):
    image_path = tiny_world / "images" / "tile_00000.png"
    map_path = tiny_world / "labels" / "tile_00000.png"
    image = read_image(image_path)
    for name, path in written.items():
        kind = KINDS[name]
        palette = [] if kind.takes == LABELS else ["--palette", "synth"]
        # cimgen manipulate (and the web editor, which calls the same loader and run)
        out = tmp_path / f"m-{name}"
        args = ["manipulate", "--checkpoint", str(path), "--image", str(image_path), "--map", str(map_path), *palette]
        args += ["--insert", "water", "--box", "4,4,20,20", "--out", str(out), "--quiet"]
        assert main(args) == 0, (name, capsys.readouterr().err)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["outside_mask_identical"] and read_image(out / "result.png").shape == image.shape
        renderer = load_renderer(path, palette="" if kind.takes == LABELS else "synth")
        assert renderer.kind == name and renderer.takes == kind.takes
        assert renderer.render(np.zeros((40, 36), np.uint8)).shape == (40, 36, 3)
        # cimgen translate takes the image generators, each single junyanz generator included
        out = tmp_path / f"t-{name}"
        code = main(["translate", "--checkpoint", str(path), "--images", str(image_path), "--out", str(out)])
        err = capsys.readouterr().err
        if kind.takes == IMAGE:
            assert code == 0, (name, err)
            assert read_image(out / "tile_00000.png").shape == image.shape
        else:
            assert code == 2 and f"holds a '{name}' model, not cyclegan or pix2pix" in err
            assert not out.exists()


def test_a_single_imported_junyanz_generator_translates_as_it_was_saved(written, tiny_world):
    """``cimgen import-official`` writes one junyanz generator as "junyanz-resnet"; translate runs exactly that network."""
    path = written["junyanz-resnet"]
    image = read_image(tiny_world / "images" / "tile_00001.png")
    generator = load_image_generator(path)
    reference = ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=2))
    reference.load_state_dict(torch.load(path.parent / "resnet.pth", weights_only=True))
    with torch.no_grad():
        x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
        want = reference.eval()(x)
    want = ((want[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    assert np.array_equal(translate(generator, image), want)


def _count_weight_reads(monkeypatch) -> Counter:
    import cimgen.io.checkpoints as checkpoints

    reads: Counter = Counter()
    real = checkpoints.load_file

    def counting(path, *args, **kwargs):
        reads[str(Path(path).resolve())] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "load_file", counting)
    return reads


def test_manipulate_reads_each_checkpoint_file_once(written, tiny_world, tmp_path, monkeypatch):
    reads = _count_weight_reads(monkeypatch)
    args = ["manipulate", "--checkpoint", str(written["pix2pixhd"]), "--image", str(tiny_world / "images" / "tile_00000.png")]
    args += ["--map", str(tiny_world / "labels" / "tile_00000.png"), "--remove", "building", "--box", "0,0,48,48"]
    args += ["--finetune", "--finetune-steps", "2", "--out", str(tmp_path / "f"), "--quiet"]
    assert main(args) == 0
    # the given checkpoint once, and the fine-tuned one it wrote once
    assert sorted(reads.values()) == [1, 1] and len(reads) == 2
    assert any("finetune" in p for p in reads)
    # A CycleGAN draws the map from the image with its own other direction: both directions from one read.
    reads.clear()
    image = tiny_world / "images" / "tile_00002.png"
    args = ["manipulate", "--checkpoint", str(written["cyclegan"]), "--palette", "synth", "--image", str(image)]
    args += ["--insert", "water", "--box", "2,2,30,30", "--out", str(tmp_path / "c"), "--quiet"]
    assert main(args) == 0
    assert list(reads.values()) == [1]


def test_finetune_writes_no_intermediate_image(written, tiny_world, tmp_path):
    out = tmp_path / "f"
    args = ["manipulate", "--checkpoint", str(written["pix2pixhd"]), "--image", str(tiny_world / "images" / "tile_00003.png")]
    args += ["--map", str(tiny_world / "labels" / "tile_00003.png"), "--insert", "water", "--box", "4,4,24,24"]
    args += ["--finetune", "--finetune-steps", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    made = {p.relative_to(out / "finetune").parts[0] for p in (out / "finetune").rglob("*")}
    assert made == {"run"}  # the fine-tuning run alone: no window of the image was written to train on
    assert not [p for p in out.rglob("*.png") if "window" in p.name]
