"""No file cimgen reads can make it run code: a pickle payload is planted in every place a file is read.

Each payload, if unpickled, creates a marker file. Every loader must refuse the file with
one sentence (a ``CimgenError``) and the marker must never appear. A source audit checks
that no code path can unpickle anything but the user's own training state, and that one
with ``weights_only=True``.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cimgen.errors import CimgenError
from tests.corpus.make_corpus import PickleBomb

SRC = Path(__file__).resolve().parents[1] / "src" / "cimgen"


@pytest.fixture
def bomb(tmp_path):
    """(payload object, marker path): unpickling the payload creates the marker."""
    marker = tmp_path / "PWNED"
    yield PickleBomb(marker), marker
    assert not marker.exists(), "a pickle payload ran"


def _pth(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def _refused(fn, *args, **kwargs) -> str:
    with pytest.raises(CimgenError) as e:
        fn(*args, **kwargs)
    return str(e.value)


# -- the source audit ------------------------------------------------------------------------


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute):
                owner = f.value.attr
            yield node, owner, name


def _kw(node: ast.Call, key: str):
    for k in node.keywords:
        if k.arg == key and isinstance(k.value, ast.Constant):
            return k.value.value
    return None


# The one module allowed to import pickle: its Unpickler subclass hands out cimgen's own inert stand-ins only.
RESTRICTED_UNPICKLER = SRC / "io" / "torchscript.py"


def test_no_code_path_can_unpickle_arbitrary_objects():
    seen = {"torch.load": 0, "np.load": 0}
    jit = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                banned = {"dill", "joblib", "cloudpickle", "shelve", "marshal"} | ({"pickle"} if path != RESTRICTED_UNPICKLER else set())
                assert not banned & set(names), f"{path}: imports {names}"
        for node, owner, name in _calls(tree):
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if owner == "torch" and name == "load":
                seen["torch.load"] += 1
                assert _kw(node, "weights_only") is True, f"{where}: torch.load without weights_only=True"
            if owner == "np" and name == "load":
                seen["np.load"] += 1
                assert _kw(node, "allow_pickle") is False, f"{where}: np.load without allow_pickle=False"
            if owner == "yaml":
                assert name in ("safe_load", "safe_dump", "dump"), f"{where}: yaml.{name}"
            if owner == "jit" and name == "load" or owner == "_C" and name.startswith("import_ir_module"):
                jit.append(where)  # torch.jit.load compiles an archive's code and runs its modules' __setstate__
            if owner == "pickle":
                assert name == "Unpickler", f"{where}: pickle.{name}"
    assert seen["torch.load"] >= 2 and seen["np.load"] >= 3  # the audit sees the loaders it is meant to (io/checkpoints, io/weights)
    assert jit == [], f"torch.jit.load reads code from files: {jit}"


def test_the_one_unpickler_allows_only_inert_stand_ins():
    """io/torchscript.py's Unpickler overrides find_class and persistent_load, and its find_class returns no Python callable."""
    from cimgen.io import torchscript

    tree = ast.parse(RESTRICTED_UNPICKLER.read_text())
    subclasses = [c for c in tree.body if isinstance(c, ast.ClassDef) and any(ast.unparse(b) == "pickle.Unpickler" for b in c.bases)]
    assert [c.name for c in subclasses] == ["_TensorsOnly"]
    methods = {f.name for f in subclasses[0].body if isinstance(f, ast.FunctionDef)}
    assert {"find_class", "persistent_load"} <= methods
    unpickler = torchscript._TensorsOnly(b"", None, "", 0)
    inert = (torchscript._ScriptRecord, torchscript._rebuild_tensor, torchscript._identity, torchscript._empty_hooks)
    for module, name in (("__torch__.x", "Net"), ("torch", "FloatStorage"), ("torch._utils", "_rebuild_tensor_v2"),
                         ("torch.jit._pickle", "build_intlist"), ("collections", "OrderedDict")):  # fmt: skip
        got = unpickler.find_class(module, name)
        assert got in inert or isinstance(got, torchscript._StorageKind), (module, name)
    for module, name in (("builtins", "eval"), ("os", "system"), ("torch", "load"), ("torch._utils", "_rebuild_device_tensor_from_numpy"),
                         ("collections", "namedtuple"), ("__builtin__", "open"), ("torch.jit._pickle", "build_tensor_from_id")):  # fmt: skip
        with pytest.raises(torchscript.RefusedGlobal):
            unpickler.find_class(module, name)


# -- planted payloads ------------------------------------------------------------------------


def test_checkpoint_weights_and_train_state(tmp_path, bomb):
    from cimgen.generators import shipped_checkpoint
    from cimgen.io.checkpoints import load_checkpoint, load_train_state

    payload, _ = bomb
    ck = tmp_path / "ck"
    shutil.copytree(shipped_checkpoint(), ck)
    (ck / "train_state.pt").unlink(missing_ok=True)
    _pth(ck / "train_state.pt", {"optimizer": payload})
    assert "could run code" in _refused(load_train_state, ck)
    _pth(ck / "weights.safetensors", {"w": payload})
    assert "safetensors" in _refused(load_checkpoint, ck)


def test_resuming_a_run_whose_train_state_carries_a_payload(tmp_path, bomb, tiny_world, capsys):
    from cimgen.cli.main import main
    from cimgen.io.checkpoints import resolve_checkpoint
    from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
    from tests.conftest import tiny_train_config

    payload, _ = bomb
    run = tmp_path / "run"
    run_pix2pixhd(resolve_config(tiny_train_config(tiny_world, epochs=1, decay_epochs=0)), run, echo=None, progress=False)
    last = resolve_checkpoint(run)
    _pth(last / "train_state.pt", {"step": payload})
    rc = main(["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be loaded safely" in err and "Traceback" not in err


def test_official_files(tmp_path, bomb):
    from cimgen.io.official import read_state_dict

    payload, _ = bomb
    f = _pth(tmp_path / "latest_net_G.pth", {"model.1.weight": payload})
    assert "could run code" in _refused(read_state_dict, f)


def test_detector_and_vgg_and_inception_weights(tmp_path, bomb):
    from cimgen.io.weights import read_vgg19_state_dict
    from cimgen.metrics.inception import load_inception_state
    from cimgen.models.detectors import load_torchvision_weights, resnet_small

    payload, _ = bomb
    f = _pth(tmp_path / "resnet.pth", {"conv1.weight": payload})
    for loader, args in ((load_torchvision_weights, (resnet_small(), f)), (read_vgg19_state_dict, (f,)), (load_inception_state, (f,))):
        msg = _refused(loader, *args)
        assert "could run code" in msg and "\x1b" not in msg and "trust the source" not in msg
    # an archive dressed up as TorchScript (it has a code/ folder) whose data.pkl is a payload
    buf = io.BytesIO()
    torch.save({"w": payload}, buf)
    fake = tmp_path / "fake_script.pt"
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(fake, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        prefix = src.namelist()[0].split("/")[0]
        dst.writestr(f"{prefix}/code/__torch__.py", "def forward(self): pass\n")
    assert "cannot be loaded safely as Inception weights" in _refused(load_inception_state, fake)


def test_patch_datasets_with_object_arrays(tmp_path, bomb):
    from cimgen.forensics.patches import FORMAT, load_split

    payload, _ = bomb
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"format": FORMAT, "patch_size": 8}))
    np.save(root / "train" / "patches.npy", np.array([payload], dtype=object), allow_pickle=True)
    np.save(root / "train" / "labels.npy", np.zeros(1))
    np.save(root / "train" / "sources.npy", np.zeros(1))
    assert "cannot be read" in _refused(load_split, root, "train")


def test_singan_runs(tmp_path, bomb):
    from cimgen.singan.model import load_singan
    from cimgen.singan.train import train_singan
    from tests.singan.conftest import pattern, tiny_config

    payload, _ = bomb
    run = tmp_path / "run"
    train_singan(pattern(), tiny_config(num_scales=2, iters=1), run)
    for f in sorted(run.rglob("*.safetensors")):
        _pth(f, {"w": payload})
    _refused(load_singan, run)


def test_yaml_tags_in_specs_and_configs(tmp_path, bomb):
    from cimgen.config import load_yaml
    from cimgen.edit.spec import load_spec_file

    _, marker = bomb
    text = f"!!python/object/apply:builtins.open ['{marker}', 'w']\n"
    (tmp_path / "spec.yaml").write_text(text)
    (tmp_path / "config.yaml").write_text("loop: " + text)
    _refused(load_spec_file, tmp_path / "spec.yaml")
    _refused(load_yaml, tmp_path / "config.yaml")
