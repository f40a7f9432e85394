"""The web editor's library side: scenes, the edit list kept as an edit spec, saving, and runs replayed by the CLI."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

import cimgen.runs.manipulate
from cimgen.app.session import EditSession, Limits, RunOptions, example_scene, new_job_folder, run_edit, upload_scene
from cimgen.cli.main import main
from cimgen.data.synth import SYNTH_PALETTE
from cimgen.edit.spec import read_spec
from cimgen.errors import CimgenError
from cimgen.generators import load_renderer, shipped_checkpoint
from cimgen.io.images import read_id_map, read_image, read_mask, write_image, write_label_map
from cimgen.palette import labels_to_colors
from cimgen.runs.options import DEFAULT_FEATHER, DEFAULT_RADIUS, ManipulateConfig

BUILDING, GROUND, WATER = (SYNTH_PALETTE.names.index(n) for n in ("building", "ground", "water"))


def _stroke_layer(shape, box, cls) -> np.ndarray:
    """An RGBA layer as the browser's editor returns it: the class colour, opaque where painted."""
    layer = np.zeros((*shape, 4), np.uint8)
    x0, y0, x1, y1 = box
    layer[y0:y1, x0:x1, :3] = SYNTH_PALETTE.colors[cls]
    layer[y0:y1, x0:x1, 3] = 255
    return layer


@pytest.fixture
def session() -> EditSession:
    return EditSession(scene=example_scene(0), palette=SYNTH_PALETTE)


def test_examples_are_synthetic_tiles_that_need_no_files():
    s = example_scene(3)
    assert s.image.shape == (256, 256, 3) and s.image.dtype == np.uint8
    assert s.labels.shape == (256, 256) and s.labels.max() < SYNTH_PALETTE.num_classes
    assert np.array_equal(example_scene(3).image, s.image)  # the same every time
    with pytest.raises(CimgenError, match="examples"):
        example_scene(99)


def test_paint_becomes_one_paint_edit_per_class_and_the_spec_parser_reads_it(session, tmp_path):
    layer = _stroke_layer(session.scene.labels.shape, (10, 10, 40, 30), WATER)
    layer[50:60, 50:70, :3] = SYNTH_PALETTE.colors[BUILDING]
    layer[50:60, 50:70, 3] = 255
    # soft brush edges: barely opaque pixels are not painted, and an off-palette colour snaps to the nearest class
    layer[100, 100] = (*SYNTH_PALETTE.colors[WATER], 40)
    layer[0:2, 0:2] = (*(np.asarray(SYNTH_PALETTE.colors[WATER]) + 3), 255)
    new = session.with_paint([layer])
    assert [e["op"] for e in new.edits] == ["paint", "paint"]
    assert {e["class"] for e in new.edits} == {"water", "building"}
    edited = new.edited_labels()
    assert (edited[10:30, 10:40] == WATER).all() and (edited[0:2, 0:2] == WATER).all()
    assert (edited[50:60, 50:70] == BUILDING).all()
    assert edited[100, 100] == session.scene.labels[100, 100]
    untouched = np.ones_like(edited, bool)
    untouched[10:30, 10:40] = untouched[50:60, 50:70] = untouched[0:2, 0:2] = False
    assert np.array_equal(edited[untouched], session.scene.labels[untouched])
    # saved, the spec file alone reproduces the edited map through the CLI's parser
    files = new.save(tmp_path / "job")
    ops = read_spec(files["spec"], SYNTH_PALETTE, read_mask=read_mask)
    from cimgen.edit.ops import apply_edits

    again = apply_edits(read_id_map(files["map"]), ops, num_classes=6)
    assert np.array_equal(again, edited)
    assert np.array_equal(read_image(files["image"]), session.scene.image)


def test_painting_a_class_over_itself_records_nothing(session):
    labels = session.scene.labels
    cls = int(labels[0, 0])
    layer = np.zeros((*labels.shape, 4), np.uint8)
    same = labels == cls
    layer[same, :3] = SYNTH_PALETTE.colors[cls]
    layer[same, 3] = 255
    assert session.with_paint([layer]).edits == []
    assert session.with_paint([np.zeros((*labels.shape, 4), np.uint8)]) is session


def test_edits_are_checked_and_undone(session):
    new = session.with_edit({"op": "insert", "class": "water", "shape": "ellipse", "box": [20, 20, 80, 60]})
    assert (new.edited_labels() == WATER).sum() > (session.scene.labels == WATER).sum()
    with pytest.raises(CimgenError, match="changed nothing"):
        new.with_edit({"op": "insert", "class": "water", "shape": "ellipse", "box": [20, 20, 80, 60]})
    with pytest.raises(CimgenError, match="unknown operation"):
        new.with_edit({"op": "delete", "at": [3, 3]})
    assert new.undo().edits == []
    with pytest.raises(CimgenError, match="no edit to undo"):
        session.undo()


def test_a_layer_of_another_size_is_refused(session):
    with pytest.raises(CimgenError, match="reload the scene"):
        session.with_paint([np.zeros((10, 10, 4), np.uint8)])


def test_a_run_is_replayed_exactly_by_the_command_it_records(session, tmp_path, monkeypatch, capsys):
    layer = _stroke_layer(session.scene.labels.shape, (60, 60, 130, 110), GROUND)
    new = session.with_paint([layer]).with_edit({"op": "remove", "at": [5, 5]})
    options = RunOptions(checkpoint=str(shipped_checkpoint()), blend="poisson", radius=6)
    job = new_job_folder(tmp_path / "runs")
    result = run_edit(new, options, job).folder
    assert (result / "result.png").is_file() and (result / "metrics.json").is_file()
    argv = shlex.split((job / "input" / "replay.txt").read_text())
    assert argv[:2] == ["cimgen", "manipulate"] and "--spec" in argv and argv[argv.index("--blend") + 1] == "poisson"
    assert argv[argv.index("--shadows") + 1] == "auto"
    assert main(argv[1:]) == 0, capsys.readouterr().err
    replayed = read_image(job / "replay" / "result.png")
    assert np.array_equal(replayed, read_image(result / "result.png"))


def test_a_run_hands_back_what_it_wrote_and_uses_the_renderer_it_is_given(session, tmp_path, monkeypatch):
    """The page shows the run from memory: the arrays and metrics equal the files, and a kept generator is not loaded again."""
    options = RunOptions(checkpoint=str(shipped_checkpoint()), blend="hard", radius=4)
    renderer = load_renderer(options.checkpoint)

    def no_loading(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded again")

    monkeypatch.setattr(cimgen.runs.manipulate, "load_renderer", no_loading)
    new = session.with_edit({"op": "insert", "class": "water", "shape": "rectangle", "box": [40, 40, 90, 80]})
    run = run_edit(new, options, tmp_path / "job", renderer=renderer)
    assert run.folder == tmp_path / "job" / "result" and run.renderer is renderer
    assert run.metrics == json.loads((run.folder / "metrics.json").read_text())
    m = run.manipulation
    assert np.array_equal(m.result, read_image(run.folder / "result.png"))
    assert np.array_equal(m.generated, read_image(run.folder / "generated.png"))
    assert np.array_equal(m.mask, read_mask(run.folder / "mask_raw.png"))
    assert np.array_equal(m.edited_labels, read_id_map(run.folder / "edited_labels.png"))
    assert np.array_equal(m.edited_labels, new.edited_labels()) and np.array_equal(m.original, session.scene.image)
    assert (tmp_path / "job" / "input" / "replay.txt").is_file() and (tmp_path / "job" / "input" / "edit.yaml").is_file()


def test_run_options_take_the_defaults_of_cimgen_manipulate():
    options = RunOptions(checkpoint="c")
    assert (options.radius, options.feather, options.finetune_steps) == (DEFAULT_RADIUS, DEFAULT_FEATHER, None)
    assert options.shadows == ManipulateConfig(checkpoint="c", out="o").shadows == "auto"


def test_a_run_without_edits_says_so(session, tmp_path):
    with pytest.raises(CimgenError, match="paint on the map"):
        run_edit(session, RunOptions(checkpoint=str(shipped_checkpoint())), tmp_path / "job")
    assert not (tmp_path / "job").exists()


def test_job_folders_are_unique(tmp_path):
    assert len({new_job_folder(tmp_path) for _ in range(20)}) == 20


# -- uploads ---------------------------------------------------------------------------------


def test_upload_reads_a_colour_map_or_label_ids(tmp_path):
    s = example_scene(1)
    write_image(tmp_path / "img.png", s.image)
    write_image(tmp_path / "map_rgb.png", labels_to_colors(s.labels, SYNTH_PALETTE))
    write_label_map(tmp_path / "map_ids.png", s.labels)
    for m in ("map_rgb.png", "map_ids.png"):
        scene = upload_scene(tmp_path / "img.png", tmp_path / m, SYNTH_PALETTE)
        assert np.array_equal(scene.labels, s.labels) and np.array_equal(scene.image, s.image)


def test_upload_uses_the_cyclegan_direction_when_there_is_no_map(tmp_path):
    s = example_scene(2)
    write_image(tmp_path / "img.png", s.image)
    to_map = lambda image: labels_to_colors(s.labels, SYNTH_PALETTE)  # a stand-in image -> map generator
    scene = upload_scene(tmp_path / "img.png", None, SYNTH_PALETTE, image_to_map=to_map)
    assert np.array_equal(scene.labels, s.labels)
    with pytest.raises(CimgenError, match="upload the image's map too"):
        upload_scene(tmp_path / "img.png", None, SYNTH_PALETTE)


@pytest.mark.parametrize(
    "case, message",
    [
        ("text", "is not an image cimgen can read"),
        ("empty", "is not an image cimgen can read"),
        ("large", "up to 100 pixels a side"),
        ("heavy", "files up to 0.001 MB"),
        ("map_size", "the map is 40x30 pixels but the image is 64x48"),
        ("map_colours", "cannot be used with this generator's classes"),
        ("instances_size", "the instance map is 10x10"),
    ],
)
def test_bad_uploads_get_one_sentence(tmp_path, case, message):
    rng = np.random.default_rng(0)
    img = tmp_path / "img.png"
    write_image(img, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    write_label_map(tmp_path / "map.png", np.zeros((48, 64), np.uint8))
    kwargs, image, map_ = {}, img, tmp_path / "map.png"
    limits = Limits(max_side=100)
    if case == "text":
        image = tmp_path / "notes.png"
        image.write_text("these are not pixels")
    elif case == "empty":
        image = tmp_path / "empty.jpg"
        image.write_bytes(b"")
    elif case == "large":
        image = tmp_path / "large.png"
        write_image(image, np.zeros((50, 120, 3), np.uint8))
    elif case == "heavy":
        limits = Limits(max_upload_mb=0.001)
    elif case == "map_size":
        write_label_map(map_, np.zeros((30, 40), np.uint8))
    elif case == "map_colours":
        write_image(map_, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    elif case == "instances_size":
        write_label_map(tmp_path / "inst.png", np.zeros((10, 10), np.uint8))
        kwargs["instances_path"] = tmp_path / "inst.png"
    with pytest.raises(CimgenError) as e:
        upload_scene(image, map_, SYNTH_PALETTE, limits=limits, **kwargs)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_the_app_command_refuses_bad_options_with_one_sentence(tmp_path, capsys):
    from tests.cli.test_cli import _err

    assert "--port" in _err(capsys, ["app", "--port", "0"])
    assert "does not exist" in _err(capsys, ["app", "--checkpoint", str(tmp_path / "nope")])
    assert "study folder" in _err(capsys, ["app", "--study", str(tmp_path)])


def test_a_run_computes_under_the_fixed_thread_count_and_puts_the_old_one_back(session, tmp_path, monkeypatch):
    """Every run holds torch's thread count at RUN_THREADS (the process default, as a replay has it), in the thread that runs it."""
    import threading

    import torch

    import cimgen.app.session as app_session

    seen = []
    real = app_session.run_manipulation

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(app_session, "run_manipulation", counting)
    options = RunOptions(checkpoint=str(shipped_checkpoint()), blend="hard", radius=4)
    edited = session.with_edit({"op": "insert", "class": "water", "shape": "rectangle", "box": [40, 40, 90, 80]})
    other = 2 if app_session.RUN_THREADS != 2 else 1
    after = {}

    def worker():  # as a server's worker thread: a count set elsewhere before it started is what it finds
        run_edit(edited, options, tmp_path / "j")
        after["count"] = torch.get_num_threads()

    before = torch.get_num_threads()
    torch.set_num_threads(other)
    try:
        t = threading.Thread(target=worker)
        t.start()
        t.join(120)
        assert seen == [app_session.RUN_THREADS] and after["count"] == other
        assert torch.get_num_threads() == other
    finally:
        torch.set_num_threads(before)
