"""Importing official pix2pixHD / junyanz generator files: unwrap, drop stale statistics, infer, load strictly, export."""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.models import official
from cimgen.models.cyclegan import (
    NLayerDiscriminator,
    NLayerDiscriminatorConfig,
    PixelDiscriminator,
    PixelDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    UnetGenerator,
    UnetGeneratorConfig,
)
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, LocalEnhancer, LocalEnhancerConfig

CASES = [
    (official.PIX2PIXHD_GLOBAL, GlobalGenerator, GlobalGeneratorConfig(in_channels=7, base_channels=4, num_downsamplings=3, num_blocks=2)),
    (official.PIX2PIXHD_LOCAL, LocalEnhancer, LocalEnhancerConfig(in_channels=7, base_channels=2, num_downsamplings_global=2, num_blocks_global=1, num_blocks_local=2)),
    (official.JUNYANZ_RESNET, ResnetGenerator, ResnetGeneratorConfig(base_channels=4, num_blocks=3)),
    (official.JUNYANZ_RESNET, ResnetGenerator, ResnetGeneratorConfig(base_channels=4, num_blocks=2, norm="batch", dropout=True)),
    (official.JUNYANZ_UNET, UnetGenerator, UnetGeneratorConfig(base_channels=2, num_downs=7)),
    (official.JUNYANZ_UNET, UnetGenerator, UnetGeneratorConfig(in_channels=1, out_channels=3, base_channels=2, num_downs=8, norm="instance")),
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
    assert kind == official.JUNYANZ_RESNET and got == cfg
    assert dropped == ["model.10.conv_block.2.num_batches_tracked", "model.2.running_mean", "model.2.running_var"]
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(module(x), original(x))


def _reduce_like_pytorch_0_3(self, protocol):
    """How a tensor pickled itself before PyTorch 0.4: ``_rebuild_tensor`` over a typed storage."""
    return (torch._utils._rebuild_tensor, (self.storage(), self.storage_offset(), tuple(self.size()), self.stride()))


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
@pytest.mark.parametrize("era", ["pytorch-0.3", "pytorch-1.5"])
def test_files_in_the_formats_of_the_published_years_load(tmp_path, monkeypatch, era):
    """The published checkpoints date from 2017-2019: the file format before PyTorch 1.6's zip files, and 0.3's tensors."""
    original = _randomised(LocalEnhancer(CASES[1][2]))
    path = tmp_path / "latest_net_G.pth"
    with monkeypatch.context() as m:
        if era == "pytorch-0.3":
            m.setattr(torch.Tensor, "__reduce_ex__", _reduce_like_pytorch_0_3)
        torch.save(original.state_dict(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert not data.startswith(b"PK") and (b"_rebuild_tensor_v2" in data) == (era == "pytorch-1.5")
    module, kind, cfg, dropped = official.import_generator(path)
    assert kind == official.PIX2PIXHD_LOCAL and cfg == CASES[1][2] and dropped == []
    assert all(torch.equal(module.state_dict()[k], v) for k, v in original.state_dict().items())
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CimgenError, match="damaged"):
        official.import_generator(path)
    monkeypatch.chdir(tmp_path)
    torch.save({"model.1.weight": _Payload()}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CimgenError, match="could run code"):
        official.import_generator(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_official_sizes_are_inferred_without_loading_values(tmp_path):
    """The published layouts: pix2pixHD 512p global (36 inputs) and 1024p local (ngf 32), resnet_9blocks, unet_256."""
    expected = {
        official.PIX2PIXHD_GLOBAL: (GlobalGeneratorConfig(in_channels=36), 182_546_755),
        official.PIX2PIXHD_LOCAL: (LocalEnhancerConfig(in_channels=36), 182_857_059),
        official.JUNYANZ_RESNET: (ResnetGeneratorConfig(), 11_378_179),
        official.JUNYANZ_UNET: (UnetGeneratorConfig(), 54_413_955),
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
        official.import_generator(tmp_path / "bad2.pth", kind=official.JUNYANZ_RESNET)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_bad_files_load_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model.1.weight": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CimgenError, match="could run code"):
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


# ----------------------------------------------------------------------------- pix2pixHD discriminator


def _official_d_names(num_d: int, n_layers: int, norm: str) -> dict[str, int]:
    """Official ``MultiscaleDiscriminator`` (getIntermFeat) names, built from NVIDIA/pix2pixHD's layer list:
    layer 0 = conv, LeakyReLU; layers 1..n = conv, norm, LeakyReLU; layer n+1 = conv. Value: the scale's
    position from the full-size input (the official forward gives scale num_D-1 the full-size input)."""
    names = {}
    for s in range(num_d):
        for j in range(n_layers + 2):
            for p in ("weight", "bias"):
                names[f"scale{s}_layer{j}.0.{p}"] = num_d - 1 - s
            if 1 <= j <= n_layers and norm == "batch":
                for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                    names[f"scale{s}_layer{j}.1.{p}"] = num_d - 1 - s
    return names


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_discriminator_exports_official_names_and_imports_back(tmp_path, norm):
    from cimgen.models.pix2pixhd import MultiscaleDiscriminator, MultiscaleDiscriminatorConfig

    cfg = MultiscaleDiscriminatorConfig(in_channels=10, base_channels=4, num_layers=2, num_discriminators=3, norm=norm)
    original = _randomised(MultiscaleDiscriminator(cfg))
    official.export_discriminator(original, tmp_path / "latest_net_D.pth")
    sd = torch.load(tmp_path / "latest_net_D.pth", weights_only=True)
    names = _official_d_names(3, 2, norm)
    assert set(sd) == set(names)
    # The full-size input's PatchGAN is the official scale2 (cimgen's discriminators.0).
    assert torch.equal(sd["scale2_layer0.0.weight"], original.discriminators[0].blocks[0][0].weight)
    assert torch.equal(sd["scale0_layer3.0.bias"], original.discriminators[2].blocks[3][0].bias)
    module, config, dropped = official.import_discriminator(tmp_path / "latest_net_D.pth")
    assert config == cfg and not dropped
    x = torch.randn(1, 10, 64, 64)
    original.eval()
    for a, b in zip(original(x), module(x)):
        for fa, fb in zip(a, b):
            assert torch.equal(fa, fb)


def test_discriminator_without_feature_matching_layout_imports(tmp_path):
    """``--no_ganFeat_loss``: each scale is one flattened Sequential ``layer{s}.model.{m}``."""
    from cimgen.models.pix2pixhd import MultiscaleDiscriminator, MultiscaleDiscriminatorConfig

    cfg = MultiscaleDiscriminatorConfig(in_channels=5, base_channels=4, num_layers=3, num_discriminators=2)
    original = _randomised(MultiscaleDiscriminator(cfg))
    sizes = [2] + [3] * cfg.num_layers + [1]  # modules per layer in the official list
    flat = {}
    for i, d in enumerate(original.discriminators):
        m = 0
        for j, count in enumerate(sizes):
            for k in range(count):
                for p, v in d.blocks[j][k].state_dict().items():
                    flat[f"layer{cfg.num_discriminators - 1 - i}.model.{m}.{p}"] = v
                m += 1
    torch.save(flat, tmp_path / "flat_D.pth")
    module, config, _ = official.import_discriminator(tmp_path / "flat_D.pth")
    assert config == cfg
    for k, v in original.state_dict().items():
        assert torch.equal(module.state_dict()[k], v), k


def test_label2city_discriminator_size():
    """The 512p label2city D (36 + 3 inputs, ndf 64, n_layers_D 3, num_D 2) has, by the official layer list, 5,603,202 parameters."""
    from cimgen.models.pix2pixhd import MultiscaleDiscriminator, MultiscaleDiscriminatorConfig

    d = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=39))
    per_scale = (39 * 64 * 16 + 64) + (64 * 128 * 16 + 128) + (128 * 256 * 16 + 256) + (256 * 512 * 16 + 512) + (512 * 16 + 1)
    assert sum(p.numel() for p in d.parameters()) == 2 * per_scale == 5_603_202
    assert len(d.state_dict()) == 20


def test_bad_discriminator_files(tmp_path):
    torch.save({"model.1.weight": torch.zeros(2, 2, 1, 1)}, tmp_path / "g.pth")
    with pytest.raises(CimgenError, match="not a pix2pixHD multi-scale discriminator"):
        official.import_discriminator(tmp_path / "g.pth")
    torch.save({"scale1_layer0.0.weight": torch.zeros(4, 3, 4, 4)}, tmp_path / "gap.pth")
    with pytest.raises(CimgenError, match="numbered"):
        official.import_discriminator(tmp_path / "gap.pth")


def test_finetune_starts_from_an_imported_generator_and_discriminator(tmp_path, capsys, tiny_world):
    """The paper's recipe from official files: import latest_net_G.pth + latest_net_D.pth, fine-tune on a small set."""
    from safetensors.torch import load_file

    from cimgen.cli.main import main
    from cimgen.models.pix2pixhd import MultiscaleDiscriminator, MultiscaleDiscriminatorConfig
    from cimgen.train.pix2pixhd import resolve_config
    from tests.conftest import TINY_MODEL, tiny_train_config

    in_ch = resolve_config(tiny_train_config(tiny_world)).generator.in_channels
    g = _randomised(GlobalGenerator(GlobalGeneratorConfig(in_channels=in_ch, **TINY_MODEL["generator"])))
    d = _randomised(MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=in_ch + 3, **TINY_MODEL["discriminator"])))
    torch.save(g.state_dict(), tmp_path / "latest_net_G.pth")
    official.export_discriminator(d, tmp_path / "latest_net_D.pth")
    imp = ["import-official", str(tmp_path / "latest_net_G.pth"), "--label-nc", "6", "--palette", str(tiny_world / "palette.json")]
    assert main([*imp, "--out", str(tmp_path / "ckpt"), "--discriminator", str(tmp_path / "latest_net_D.pth")]) == 0
    assert "discriminator:" in capsys.readouterr().out
    # With a zero learning rate, fine-tuning must end exactly where the official files start.
    tune = ["finetune", "--data", str(tiny_world), "--epochs", "1", "--decay-epochs", "0", "--set", "optim.lr=0", "--quiet"]
    assert main([*tune, "--from", str(tmp_path / "ckpt"), "--out", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    saved = load_file(str(tmp_path / "run" / "checkpoints" / "epoch-0001" / "weights.safetensors"))
    for prefix, net in (("generator", g), ("discriminator", d)):
        for k, v in net.state_dict().items():
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
                assert torch.equal(saved[f"{prefix}.{k}"], v), k
    # The discriminator comes back out in the official format.
    assert (
        main(
            ["export-official", str(tmp_path / "ckpt"), "--out", str(tmp_path / "G2.pth"), "--discriminator-out", str(tmp_path / "D2.pth")]
        )
        == 0
    )
    back = torch.load(tmp_path / "D2.pth", weights_only=True)
    assert all(torch.equal(back[k], v) for k, v in torch.load(tmp_path / "latest_net_D.pth", weights_only=True).items())
    # A generator imported alone fine-tunes too; its discriminator starts from scratch, and the run says so.
    assert main([*imp, "--out", str(tmp_path / "g-only")]) == 0
    capsys.readouterr()
    assert main([*tune[:-3], "--quiet", "--from", str(tmp_path / "g-only"), "--out", str(tmp_path / "run2")]) == 0
    assert "holds no discriminator; it starts from scratch" in capsys.readouterr().out
    # A discriminator that does not fit the generator is one sentence.
    small = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=5, **TINY_MODEL["discriminator"]))
    official.export_discriminator(small, tmp_path / "small_D.pth")
    assert main([*imp, "--out", str(tmp_path / "bad"), "--discriminator", str(tmp_path / "small_D.pth")]) == 2
    assert "they are not a pair" in capsys.readouterr().err


@pytest.mark.parametrize(
    "module",
    [
        lambda: NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=3, norm="batch")),
        lambda: NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=3, base_channels=4, num_layers=2, norm="instance")),
        lambda: PixelDiscriminator(PixelDiscriminatorConfig(in_channels=6, base_channels=4, norm="none")),
    ],
    ids=["patchgan-batch", "patchgan-instance", "pixel-none"],
)
def test_junyanz_discriminators_import_with_their_architecture(tmp_path, module):
    original = _randomised(module())
    torch.save(original.state_dict(), tmp_path / "latest_net_D.pth")
    imported, name, config, _ = official.import_patchgan(tmp_path / "latest_net_D.pth")
    assert config == original.config and type(imported) is type(original)
    assert name == ("pixel" if "Pixel" in type(original).__name__ else "n_layers")
    x = torch.randn(1, config.in_channels, 40, 40)
    original.eval()
    assert torch.equal(original(x), imported(x))


def test_pix2pix_finetunes_from_imported_junyanz_files(tmp_path, capsys):
    """A junyanz pix2pix generator and D (e.g. map2sat's latest_net_G/D.pth) imported, then fine-tuned on a small set."""
    from safetensors.torch import load_file

    from cimgen.cli.main import main
    from tests.train.test_pix2pix import write_pairs

    g = _randomised(UnetGenerator(UnetGeneratorConfig(num_downs=7, base_channels=2, norm="batch")))
    d = _randomised(NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=2, norm="batch")))
    torch.save(g.state_dict(), tmp_path / "latest_net_G.pth")
    torch.save(d.state_dict(), tmp_path / "latest_net_D.pth")
    assert (
        main(
            [
                "import-official",
                str(tmp_path / "latest_net_G.pth"),
                "--out",
                str(tmp_path / "ckpt"),
                "--discriminator",
                str(tmp_path / "latest_net_D.pth"),
            ]
        )
        == 0
    )
    write_pairs(tmp_path / "pairs" / "train", 2, 128)
    tune = ["finetune", "--data", str(tmp_path / "pairs"), "--epochs", "1", "--decay-epochs", "0", "--quiet"]
    tune += ["--set", "data.load_size=0", "--set", "data.crop_size=128", "--set", "loop.batch_size=1", "--set", "loop.tensorboard=false"]
    assert (
        main([*tune, "--set", "optim.lr=0", "--set", "direction=BtoA", "--from", str(tmp_path / "ckpt"), "--out", str(tmp_path / "run")])
        == 0
    ), capsys.readouterr().err
    saved = load_file(str(tmp_path / "run" / "checkpoints" / "epoch-0001" / "weights.safetensors"))
    for prefix, net in (("generator", g), ("discriminator", d)):
        for k, v in net.state_dict().items():
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
                assert torch.equal(saved[f"{prefix}.{k}"], v), k
    assert "direction: BtoA" in (tmp_path / "run" / "config.yaml").read_text()
    # Without a discriminator file the run says that D starts from scratch.
    assert main(["import-official", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "g-only")]) == 0
    capsys.readouterr()
    assert main([*tune, "--from", str(tmp_path / "g-only"), "--out", str(tmp_path / "run2")]) == 0
    assert "holds no discriminator; it starts from scratch" in capsys.readouterr().out
    # A CycleGAN discriminator (3 input channels) is not pix2pix's.
    cyc = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=3, base_channels=4, num_layers=2))
    torch.save(cyc.state_dict(), tmp_path / "D_A.pth")
    assert (
        main(
            [
                "import-official",
                str(tmp_path / "latest_net_G.pth"),
                "--out",
                str(tmp_path / "cyc"),
                "--discriminator",
                str(tmp_path / "D_A.pth"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main([*tune, "--from", str(tmp_path / "cyc"), "--out", str(tmp_path / "run3")]) == 2
    assert "it is a CycleGAN D" in capsys.readouterr().err


# ----------------------------------------------------------------------------- a whole junyanz CycleGAN


def _cyclegan_nets(blocks: int = 6, d_layers: int = 3) -> dict[str, torch.nn.Module]:
    """G_A, G_B, D_A, D_B as junyanz's CycleGAN builds them (resnet generators, instance norm, PatchGAN), randomised."""
    nets = {}
    for i, name in enumerate(("G_A", "G_B", "D_A", "D_B")):
        net = (
            ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=blocks))
            if name.startswith("G")
            else NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=3, base_channels=4, num_layers=d_layers))
        )
        g = torch.Generator().manual_seed(i)
        with torch.no_grad():
            for t in net.state_dict().values():
                t.copy_(torch.randn(t.shape, generator=g) * 0.05)
        nets[name] = net.eval()
    return nets


def _save_junyanz_folder(folder, nets, epoch: str = "latest", legacy: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, net in nets.items():
        sd = dict(net.state_dict())
        if legacy and name == "G_A":  # what a file saved before PyTorch 0.4 carries for instance norm
            sd["model.2.running_mean"] = torch.zeros(4)
        torch.save(sd, folder / f"{epoch}_net_{name}.pth")


def _unaligned(world, root) -> None:
    from cimgen.io.images import read_image, read_label_map, write_image
    from cimgen.palette import SYNTH_PALETTE, labels_to_colors

    for i in range(2):
        write_image(root / "trainA" / f"{i}.png", read_image(world / "images" / f"tile_{i:05d}.png"))
        write_image(root / "trainB" / f"{i}.png", labels_to_colors(read_label_map(world / "labels" / f"tile_{i:05d}.png"), SYNTH_PALETTE))


CYCLE_TUNE = ["--epochs", "1", "--decay-epochs", "0", "--quiet", "--set", "data.load_size=48", "--set", "data.crop_size=48"]
CYCLE_TUNE += ["--set", "loop.batch_size=1", "--set", "loop.tensorboard=false"]


def test_whole_cyclegan_folder_imports_finetunes_translates_and_exports(tmp_path, capsys, tiny_world):
    """A junyanz CycleGAN checkpoint folder (latest_net_G_A/G_B/D_A/D_B.pth): imported whole, fine-tuned from all four
    networks, usable in both directions, and written back as the same four files."""
    from safetensors.torch import load_file

    from cimgen.cli.main import main
    from cimgen.generators import translate
    from cimgen.io.checkpoints import load_checkpoint
    from cimgen.io.images import read_image

    nets = _cyclegan_nets()
    _save_junyanz_folder(tmp_path / "maps_cyclegan", nets, legacy=True)
    _save_junyanz_folder(tmp_path / "maps_cyclegan", _cyclegan_nets(d_layers=2), epoch="5")  # an older epoch beside it
    assert main(["import-official", str(tmp_path / "maps_cyclegan"), "--out", str(tmp_path / "ckpt")]) == 0
    out = capsys.readouterr().out
    assert "G_A: resnet_6blocks" in out and "D_B: basic" in out and "dropped 1 stale normalisation" in out
    config = load_checkpoint(tmp_path / "ckpt")[0]
    assert config["model"] == "cyclegan" and config["generator"]["name"] == "resnet_6blocks" and config["imported"]
    assert config["discriminator"] == {"name": "basic", "options": {"base_channels": 4, "norm": "instance"}}
    assert main(["import-official", str(tmp_path / "maps_cyclegan"), "--epoch", "5", "--out", str(tmp_path / "ckpt5")]) == 0
    assert load_checkpoint(tmp_path / "ckpt5")[0]["discriminator"]["options"]["num_layers"] == 2  # n_layers 2, not basic
    # With a zero learning rate, fine-tuning ends exactly on the four official networks; with the default one it moves them.
    _unaligned(tiny_world, tmp_path / "small")
    tune = ["finetune", "--data", str(tmp_path / "small"), *CYCLE_TUNE, "--from", str(tmp_path / "ckpt")]
    assert main([*tune, "--set", "optim.lr=0", "--out", str(tmp_path / "run0")]) == 0, capsys.readouterr().err
    saved = load_file(str(tmp_path / "run0" / "checkpoints" / "epoch-0001" / "weights.safetensors"))
    for name, net in nets.items():
        for k, v in net.state_dict().items():
            assert torch.equal(saved[f"{name}.{k}"], v), f"{name}.{k}"
    assert "init_from" in (tmp_path / "run0" / "config.yaml").read_text()
    assert main([*tune, "--out", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    tuned = load_file(str(tmp_path / "run" / "checkpoints" / "epoch-0001" / "weights.safetensors"))
    for name in nets:
        first = "model.0.weight" if name.startswith("D") else "model.1.weight"  # the first conv
        assert not torch.equal(tuned[f"{name}.{first}"], saved[f"{name}.{first}"]), name
    # Both directions: the image -> map generator (G_B here) is the official G_B.
    photo = read_image(tiny_world / "images" / "tile_00000.png")
    assert main(["translate", "--checkpoint", str(tmp_path / "ckpt"), "--direction", "BtoA", "--images", str(tiny_world / "images" / "tile_00000.png"), "--out", str(tmp_path / "t")]) == 0  # fmt: skip
    assert np.array_equal(read_image(tmp_path / "t" / "tile_00000.png"), translate(nets["G_B"], photo))
    assert not np.array_equal(translate(nets["G_A"], photo), translate(nets["G_B"], photo))
    # Export: the same four files, the same names and tensors (the stale statistic stays dropped).
    assert main(["export-official", str(tmp_path / "ckpt"), "--out", str(tmp_path / "back")]) == 0
    for name, net in nets.items():
        back = torch.load(tmp_path / "back" / f"latest_net_{name}.pth", weights_only=True)
        assert back.keys() == net.state_dict().keys()
        assert all(torch.equal(back[k], v) for k, v in net.state_dict().items())
    # A CycleGAN trained by cimgen goes out in the official format too, and comes back in unchanged.
    assert main(["export-official", str(tmp_path / "run"), "--out", str(tmp_path / "ours")]) == 0
    assert main(["import-official", str(tmp_path / "ours"), "--out", str(tmp_path / "ours-back")]) == 0
    again = load_checkpoint(tmp_path / "ours-back")[1]
    assert again.keys() == tuned.keys() and all(torch.equal(again[k], v) for k, v in tuned.items())


def test_two_published_generators_make_a_cyclegan(tmp_path, capsys, tiny_world):
    """The published CycleGAN models are one generator per direction (e.g. map2sat and sat2map): together they make a
    CycleGAN whose discriminators start from scratch."""
    from cimgen.cli.main import main
    from cimgen.io.checkpoints import load_checkpoint

    nets = _cyclegan_nets()
    torch.save(nets["G_A"].state_dict(), tmp_path / "map2sat.pth")
    torch.save(nets["G_B"].state_dict(), tmp_path / "sat2map.pth")
    imp = ["import-official", str(tmp_path / "map2sat.pth"), "--generator-b", str(tmp_path / "sat2map.pth")]
    assert main([*imp, "--out", str(tmp_path / "ckpt")]) == 0
    assert "fine-tuning starts D_A and D_B from scratch" in capsys.readouterr().out
    tensors = load_checkpoint(tmp_path / "ckpt")[1]
    assert all(torch.equal(tensors[f"G_B.{k}"], v) for k, v in nets["G_B"].state_dict().items())
    assert not any(k.startswith("D_") for k in tensors)
    _unaligned(tiny_world, tmp_path / "small")
    tune = ["finetune", "--data", str(tmp_path / "small"), *CYCLE_TUNE, "--from", str(tmp_path / "ckpt"), "--out", str(tmp_path / "run")]
    assert main(tune) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "holds no D_A; it starts from scratch" in out and "holds no D_B; it starts from scratch" in out
    # With D files given as well (D_A with --discriminator, D_B with --discriminator-b), all four are imported.
    torch.save(nets["D_A"].state_dict(), tmp_path / "D_A.pth")
    torch.save(nets["D_B"].state_dict(), tmp_path / "D_B.pth")
    imp += ["--discriminator", str(tmp_path / "D_A.pth"), "--discriminator-b", str(tmp_path / "D_B.pth")]
    assert main([*imp, "--out", str(tmp_path / "ckpt4")]) == 0
    assert {k.split(".")[0] for k in load_checkpoint(tmp_path / "ckpt4")[1]} == {"G_A", "G_B", "D_A", "D_B"}


def test_bad_cyclegan_imports_load_nothing(tmp_path, capsys):
    from cimgen.cli.main import main

    def refused(args, words):
        assert main(["import-official", *args, "--out", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and err.count("\n") == 1, err
        assert not (tmp_path / "never").exists()

    nets = _cyclegan_nets()
    half = tmp_path / "half"
    _save_junyanz_folder(half, {"G_A": nets["G_A"]}, epoch="10")
    refused([str(half)], "latest_net_G_B.pth missing (it holds 10_net_G_A.pth; choose the epoch with --epoch)")
    refused([str(half), "--epoch", "10"], "10_net_G_B.pth missing")
    odd = tmp_path / "odd"
    _save_junyanz_folder(odd, {"G_A": nets["G_A"], "G_B": _cyclegan_nets(blocks=9)["G_B"]})
    refused([str(odd)], "the two generators are not a CycleGAN pair")
    four = tmp_path / "four"
    _save_junyanz_folder(four, _cyclegan_nets(blocks=4))
    refused([str(four)], "none of resnet_9blocks, resnet_6blocks")
    p2p = tmp_path / "p2p"
    d6 = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=3))
    _save_junyanz_folder(p2p, {"G_A": nets["G_A"], "G_B": nets["G_B"], "D_A": d6, "D_B": d6})
    refused([str(p2p)], "a CycleGAN D sees one RGB image")
    one_d = tmp_path / "one_d"
    _save_junyanz_folder(one_d, {"G_A": nets["G_A"], "G_B": nets["G_B"], "D_A": nets["D_A"]})
    refused([str(one_d)], "give both discriminators (D_A and D_B) or neither")
    g_a = str(four / "latest_net_G_A.pth")
    refused([g_a, "--discriminator-b", g_a], "--discriminator-b is CycleGAN's D_B: give it with --generator-b")
    refused([str(one_d), "--generator-b", g_a], "leave out --generator-b")
    hd = GlobalGenerator(GlobalGeneratorConfig(in_channels=7, base_channels=4, num_downsamplings=3, num_blocks=2))
    torch.save(hd.state_dict(), tmp_path / "hd.pth")
    refused([str(tmp_path / "hd.pth"), "--generator-b", str(tmp_path / "hd.pth")], "not a junyanz CycleGAN one")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "latest_net_G_A.pth").write_bytes(b"\x80\x04not a checkpoint")
    torch.save(nets["G_B"].state_dict(), tmp_path / "evil" / "latest_net_G_B.pth")
    refused([str(tmp_path / "evil")], "latest_net_G_A.pth cannot be read: it is not a PyTorch weights file")
    # A CycleGAN goes out as a folder.
    _save_junyanz_folder(tmp_path / "good", nets)
    assert main(["import-official", str(tmp_path / "good"), "--out", str(tmp_path / "ckpt")]) == 0
    capsys.readouterr()
    assert main(["export-official", str(tmp_path / "ckpt"), "--out", str(tmp_path / "G.pth")]) == 2
    assert "name a folder" in capsys.readouterr().err


def test_export_refuses_a_generator_with_cimgen_only_parts(tmp_path, capsys):
    """A generator with a position code (and a detail code) could not be loaded by official pix2pixHD.

    Fine-tunes are written as ``pix2pixhd`` checkpoints, which export refuses anyway; this one claims to be an
    imported global generator (a config edited by hand), so the generator's own settings must stop it."""
    from cimgen.cli.main import main
    from cimgen.io.checkpoints import load_checkpoint, save_checkpoint
    from cimgen.train.pix2pixhd import converted_checkpoint

    torch.manual_seed(0)
    official = GlobalGenerator(GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=2, num_blocks=1))
    torch.save(official.state_dict(), tmp_path / "latest_net_G.pth")
    from cimgen.palette import SYNTH_PALETTE
    from cimgen.textfiles import json_text

    (tmp_path / "palette.json").write_text(json_text(SYNTH_PALETTE.to_dict()))
    argv = ["import-official", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "ckpt"), "--label-nc", "6"]
    argv += ["--palette", str(tmp_path / "palette.json")]
    assert main(argv) == 0
    config, tensors = converted_checkpoint(load_checkpoint(tmp_path / "ckpt"), position_frequencies=2, detail=(2, 32, 32))
    save_checkpoint(tmp_path / "memorised", {**config, "model": "pix2pixhd-global"}, tensors)
    capsys.readouterr()
    assert main(["export-official", str(tmp_path / "memorised"), "--out", str(tmp_path / "back.pth")]) == 2
    err = capsys.readouterr().err
    assert "cimgen-only parts (a position code, a detail code)" in err and not (tmp_path / "back.pth").exists()
