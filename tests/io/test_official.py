"""Importing official pix2pixHD / junyanz generator files: unwrap, drop stale statistics, infer, load strictly, export."""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.io import official
from cimgen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig, UnetGenerator, UnetGeneratorConfig
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, LocalEnhancer, LocalEnhancerConfig

CASES = [
    (official.PIX2PIXHD_GLOBAL, GlobalGenerator, GlobalGeneratorConfig(in_channels=7, base_channels=4, num_downsamplings=3, num_blocks=2)),
    (official.PIX2PIXHD_LOCAL, LocalEnhancer, LocalEnhancerConfig(in_channels=7, base_channels=2, num_downsamplings_global=2, num_blocks_global=1, num_blocks_local=2)),
    (official.CYCLEGAN_RESNET, ResnetGenerator, ResnetGeneratorConfig(base_channels=4, num_blocks=3)),
    (official.CYCLEGAN_RESNET, ResnetGenerator, ResnetGeneratorConfig(base_channels=4, num_blocks=2, norm="batch", dropout=True)),
    (official.CYCLEGAN_UNET, UnetGenerator, UnetGeneratorConfig(base_channels=2, num_downs=7)),
    (official.CYCLEGAN_UNET, UnetGenerator, UnetGeneratorConfig(in_channels=1, out_channels=3, base_channels=2, num_downs=8, norm="instance")),
]  # fmt: skip


def _randomised(module: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return module.eval()


@pytest.mark.parametrize("kind,cls,cfg", CASES)
def test_infers_the_architecture_and_loads_exactly(tmp_path, kind, cls, cfg):
    original = _randomised(cls(cfg))
    path = tmp_path / "latest_net_G.pth"
    torch.save(original.state_dict(), path)
    module, got_kind, got_cfg, dropped = official.import_generator(path)
    assert got_kind == kind and asdict(got_cfg) == asdict(cfg) and dropped == []
    for k, v in original.state_dict().items():
        assert torch.equal(module.state_dict()[k], v)
    # Export writes the same names back, and re-imports to the same tensors.
    again, *_ = official.import_generator(official.export_generator(module, tmp_path / "out" / "net_G.pth"))
    assert all(torch.equal(again.state_dict()[k], v) for k, v in original.state_dict().items())


def test_legacy_instance_norm_statistics_and_wrappers_are_dropped(tmp_path):
    cfg = ResnetGeneratorConfig(base_channels=4, num_blocks=2)
    original = _randomised(ResnetGenerator(cfg))
    sd = {f"module.{k}": v for k, v in original.state_dict().items()}
    # Files written before PyTorch 0.4 keep instance-norm statistics beside every norm layer.
    sd["module.model.2.running_mean"] = torch.zeros(4)
    sd["module.model.2.running_var"] = torch.ones(4)
    sd["module.model.10.conv_block.2.num_batches_tracked"] = torch.tensor(3)
    torch.save({"state_dict": sd}, tmp_path / "old.pth")
    module, kind, got, dropped = official.import_generator(tmp_path / "old.pth")
    assert kind == official.CYCLEGAN_RESNET and got == cfg
    assert dropped == ["model.10.conv_block.2.num_batches_tracked", "model.2.running_mean", "model.2.running_var"]
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(module(x), original(x))


def test_official_sizes_are_inferred_without_loading_values(tmp_path):
    """The published layouts: pix2pixHD 512p global (36 inputs) and 1024p local (ngf 32), resnet_9blocks, unet_256."""
    expected = {
        official.PIX2PIXHD_GLOBAL: (GlobalGeneratorConfig(in_channels=36), 182_546_755),
        official.PIX2PIXHD_LOCAL: (LocalEnhancerConfig(in_channels=36), 182_857_059),
        official.CYCLEGAN_RESNET: (ResnetGeneratorConfig(), 11_378_179),
        official.CYCLEGAN_UNET: (UnetGeneratorConfig(), 54_413_955),
    }
    for kind, (cfg, count) in expected.items():
        with torch.device("meta"):
            module = official.build(kind, cfg)
        sd = module.state_dict()
        assert sum(p.numel() for p in module.parameters()) == count
        assert official.detect_kind(sd) == kind
        assert asdict(official.infer_config(sd, kind)) == asdict(cfg)


def test_mismatch_is_one_readable_sentence(tmp_path):
    sd = _randomised(ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=2))).state_dict()
    sd["model.10.conv_block.1.weight"] = torch.zeros(16, 16, 1, 1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(
        CimgenError, match=r"does not match the inferred architecture: 1 of another shape \(first: model.10.conv_block.1.weight"
    ):
        official.import_generator(tmp_path / "bad.pth")
    sd = _randomised(ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=2))).state_dict()
    sd["model.99.weight"] = torch.zeros(3)
    del sd["model.4.bias"]
    torch.save(sd, tmp_path / "bad2.pth")
    with pytest.raises(CimgenError, match="1 missing \\(first: model.4.bias\\), 1 unexpected"):
        official.import_generator(tmp_path / "bad2.pth", kind=official.CYCLEGAN_RESNET)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_bad_files_load_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model.1.weight": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CimgenError, match="weights_only"):
        official.import_generator(tmp_path / "evil.pth")
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()
    good = tmp_path / "good.pth"
    torch.save(ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=1)).state_dict(), good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:2000])
    with pytest.raises(CimgenError, match="damaged"):
        official.import_generator(tmp_path / "cut.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(CimgenError, match="is not a pix2pixHD"):
        official.import_generator(tmp_path / "other.pth")
    with pytest.raises(CimgenError, match="does not exist"):
        official.import_generator(tmp_path / "nope.pth")


def test_cli_import_and_export_round_trip(tmp_path, capsys):
    from cimgen.cli.main import main

    original = _randomised(LocalEnhancer(CASES[1][2]))
    torch.save(original.state_dict(), tmp_path / "latest_net_G.pth")
    assert main(["import-official", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "ckpt")]) == 0
    assert "pix2pixhd-local" in capsys.readouterr().out
    assert main(["export-official", str(tmp_path / "ckpt"), "--out", str(tmp_path / "back.pth")]) == 0
    back = torch.load(tmp_path / "back.pth", weights_only=True)
    assert set(back) == set(original.state_dict()) and all(torch.equal(back[k], v) for k, v in original.state_dict().items())
    assert main(["import-official", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "ckpt")]) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "x.pth")
    assert main(["import-official", str(tmp_path / "x.pth"), "--out", str(tmp_path / "never")]) == 2
    assert not (tmp_path / "never").exists()


def test_imported_label2city_style_generator_drives_manipulate(tmp_path, capsys, tiny_world):
    """An official global generator with label_nc + 1 inputs (instance edges), imported with its classes, renders edits."""
    from cimgen.cli.main import main

    torch.manual_seed(0)
    official = GlobalGenerator(GlobalGeneratorConfig(in_channels=7, base_channels=4, num_downsamplings=2, num_blocks=1))
    torch.save({"state_dict": official.state_dict()}, tmp_path / "latest_net_G.pth")
    palette = tiny_world / "palette.json"
    argv = [
        "import-official",
        str(tmp_path / "latest_net_G.pth"),
        "--out",
        str(tmp_path / "ckpt"),
        "--label-nc",
        "6",
        "--palette",
        str(palette),
    ]
    assert main(argv) == 0
    capsys.readouterr()
    manip = ["manipulate", "--checkpoint", str(tmp_path / "ckpt"), "--image", str(tiny_world / "images" / "tile_00000.png")]
    manip += ["--map", str(tiny_world / "labels" / "tile_00000.png"), "--replace", "building:vegetation", "--box", "0,0,48,48"]
    assert main([*manip, "--out", str(tmp_path / "edit")]) == 0, capsys.readouterr().err
    assert (tmp_path / "edit" / "result.png").is_file()
    # Without the classes the import still works for export, and manipulate says what is missing.
    assert main(["import-official", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "bare")]) == 0
    assert "needs them" in capsys.readouterr().out
    assert main([*manip[:2], str(tmp_path / "bare"), *manip[3:], "--out", str(tmp_path / "e2")]) == 2
    assert "imported without --label-nc" in capsys.readouterr().err
    # Wrong class counts are one sentence.
    bad = [
        "import-official",
        str(tmp_path / "latest_net_G.pth"),
        "--out",
        str(tmp_path / "bad"),
        "--label-nc",
        "4",
        "--palette",
        str(palette),
    ]
    assert main(bad) == 2 and "--label-nc must be 7 or 6" in capsys.readouterr().err
