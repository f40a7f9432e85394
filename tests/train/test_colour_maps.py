"""pix2pixHD with colour maps as input (official --label_nc 0): data, training, rendering and edits, official import."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cimgen.data.paired import DataConfig, PairedDataset
from cimgen.errors import CimgenError
from cimgen.generators import generate, load_renderer
from cimgen.io.images import write_image
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, MultiscaleDiscriminator, MultiscaleDiscriminatorConfig
from cimgen.palette import GOOGLE_MAPS_PALETTE, labels_to_colors
from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
from tests.conftest import TINY_MODEL
from tests.test_palette import synthetic_rendered_map


@pytest.fixture(autouse=True)
def no_cached_vgg(tmp_path, monkeypatch):
    """Tests must not pick up a VGG19 file that happens to be in this machine's caches."""
    monkeypatch.delenv("CIMGEN_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def _ab_maps(root, n=2, size=32):
    """pix2pix "AB" files like the maps set: photo on the left, a JPEG-ish Google-style map on the right."""
    root.mkdir(parents=True)
    for i in range(n):
        rgb, _ = synthetic_rendered_map(i, size=size, scale=4)
        photo = np.random.default_rng(i).integers(0, 255, (size, size, 3), dtype=np.uint8)
        write_image(root / f"{i}.png", np.concatenate([photo, rgb], 1))
    return root


def test_label_nc_0_items_carry_the_map_colours_and_other_formats_say_why_not(tmp_path):
    root = _ab_maps(tmp_path / "ab")
    ds = PairedDataset(DataConfig(root=str(root), format="ab", map_side="right", label_nc=0, flip=False))
    item = ds[0]
    assert "label" not in item and item["colors"].shape == (3, 32, 32)
    assert -1 <= float(item["colors"].min()) and float(item["colors"].max()) <= 1
    assert ds.palette is None  # colours that are not classes need none
    with pytest.raises(CimgenError, match="the cityscapes format has label ids"):
        PairedDataset(DataConfig(root=str(root), format="cityscapes", label_nc=0))
    # The same JPEG maps snapped to classes for a one-hot generator: rendered snapping takes every colour.
    snapped = PairedDataset(
        DataConfig(root=str(root), format="ab", map_side="right", label_nc=5, palette="google-maps", color_snap="rendered", flip=False)
    )
    assert snapped[0]["label"].shape == (32, 32) and int(snapped[0]["label"].max()) < 5
    with pytest.raises(CimgenError, match="not within 0 of any palette colour"):
        PairedDataset(DataConfig(root=str(root), format="ab", map_side="right", label_nc=5, palette="google-maps"))[0]


def test_train_on_colour_maps_then_render_and_edit_with_the_palette(tmp_path, one_thread):
    root = _ab_maps(tmp_path / "ab")
    cfg = resolve_config(
        {
            "data": {"root": str(root), "format": "ab", "map_side": "right", "label_nc": 0, "palette": "google-maps"},
            **TINY_MODEL,
            "loop": {"epochs": 1, "decay_epochs": 0, "batch_size": 2, "seed": 0, "checkpoint_every": 1, "sample_every": 1},
        }
    )
    assert cfg.generator.in_channels == 3 and cfg.discriminator.in_channels == 6
    last = run_pix2pixhd(cfg, tmp_path / "run", echo=None, progress=False)
    saved = json.loads((last / "config.json").read_text())
    assert saved["label_nc"] == 0 and saved["palette"]["names"][1] == "road"
    renderer = load_renderer(last)
    assert renderer.takes_colors and renderer.palette == GOOGLE_MAPS_PALETTE
    labels = np.zeros((32, 32), np.int64)
    labels[:, 12:18] = 1
    # Labels are drawn in the palette's colours before generation.
    assert np.array_equal(renderer.render(labels), generate(renderer.generator, labels_to_colors(labels, GOOGLE_MAPS_PALETTE), 0))
    # With the original colour map, an edit keeps its colours outside the region and draws the palette's inside.
    original, _ = synthetic_rendered_map(5, size=32, scale=4)
    region = np.zeros((32, 32), bool)
    region[4:20, 4:20] = True
    drawn = np.where(region[..., None], labels_to_colors(labels, GOOGLE_MAPS_PALETTE), original)
    assert np.array_equal(renderer.render_edit(region, colors=original)(labels), generate(renderer.generator, drawn, 0))
    with pytest.raises(CimgenError, match="give an HxWx3 uint8 colour map"):
        generate(renderer.generator, labels, 0)


def test_colour_map_generator_drives_manipulate_from_a_jpeg_map(tmp_path, capsys, one_thread):
    """An official-layout --label_nc 0 generator: imported (3 input channels read as colour maps), then manipulate edits a JPEG map."""
    from cimgen.cli.main import main
    from cimgen.io.official import save_state_dict
    from cimgen.models.official import export_discriminator

    torch.manual_seed(0)
    gen = GlobalGenerator(GlobalGeneratorConfig(in_channels=3, base_channels=4, num_downsamplings=3, num_blocks=1))
    disc = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=2, num_discriminators=2))
    save_state_dict(gen.state_dict(), tmp_path / "latest_net_G.pth")
    export_discriminator(disc, tmp_path / "latest_net_D.pth")  # official key names
    assert main(["import-official", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "bare")]) == 0
    assert "colour maps as input (label_nc 0, 3 input channels); cimgen manipulate needs --palette" in capsys.readouterr().out
    argv = ["import-official", str(tmp_path / "latest_net_G.pth"), "--discriminator", str(tmp_path / "latest_net_D.pth")]
    assert main([*argv, "--label-nc", "0", "--palette", "google-maps", "--out", str(tmp_path / "ckpt")]) == 0
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["label_nc"] == 0 and meta["edge_channels"] == 0 and meta["discriminator"]["in_channels"] == 6
    capsys.readouterr()
    rgb, _ = synthetic_rendered_map(0, size=64, scale=4)
    Image.fromarray(rgb).save(tmp_path / "map.jpg", quality=75)
    write_image(tmp_path / "photo.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    manip = ["manipulate", "--image", str(tmp_path / "photo.png"), "--map", str(tmp_path / "map.jpg"), "--remove", "building"]
    manip += ["--box", "0,0,40,40"]
    assert main([*manip, "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "edit")]) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "edit" / "metrics.json").read_text())
    assert metrics["map_colours_snapped"]["pixels"] == 64 * 64 and metrics["mask_area_pixels"] > 0
    # Without a palette, one sentence says which option is missing.
    assert main([*manip, "--checkpoint", str(tmp_path / "bare"), "--out", str(tmp_path / "e2")]) == 2
    assert "records no palette; name the classes" in capsys.readouterr().err
    # 5 input channels are neither colour maps (3, or 4 with edges) nor given classes.
    wide = GlobalGenerator(GlobalGeneratorConfig(in_channels=5, base_channels=4, num_downsamplings=3, num_blocks=1))
    save_state_dict(wide.state_dict(), tmp_path / "wide.pth")
    assert main(["import-official", str(tmp_path / "wide.pth"), "--label-nc", "0", "--out", str(tmp_path / "w")]) == 2
    assert "colour maps (--label-nc 0) give 3, or 4 with instance edges" in capsys.readouterr().err
