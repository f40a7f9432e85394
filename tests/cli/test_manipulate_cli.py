"""``cimgen edit`` and ``cimgen manipulate``: specs, GIMP maps, masks, blend modes, tiles, batches, image -> map, fine-tuning."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml

from cimgen.cli.main import main
from cimgen.data.synth import BUILDING, ROAD
from cimgen.io.images import read_image, read_label_map, write_image, write_label_map
from cimgen.palette import SYNTH_PALETTE, labels_to_colors
from cimgen.runs.options import DEFAULT_FEATHER, DEFAULT_RADIUS, FINETUNE_DETAIL, MEMORISE_L1
from tests.cli.test_cli import _err


def _tile(world, i=0):
    return world / "images" / f"tile_{i:05d}.png", world / "labels" / f"tile_{i:05d}.png"


def _building_point(labels):
    y, x = np.argwhere(labels == BUILDING)[0]
    return int(x), int(y)


def _base(ckpt, image, map_path, out):
    return ["manipulate", "--checkpoint", str(ckpt), "--image", str(image), "--map", str(map_path), "--out", str(out), "--quiet"]


def test_edit_command_writes_map_mask_and_area(capsys, tiny_world, tmp_path):
    _, map_path = _tile(tiny_world)
    labels = read_label_map(map_path)
    x, y = _building_point(labels)
    assert (
        main(
            ["edit", "--map", str(map_path), "--palette", "synth", "--remove-at", f"{x},{y}", "--radius", "2", "--out", str(tmp_path / "e")]
        )
        == 0
    )
    printed = capsys.readouterr().out
    edited = read_label_map(tmp_path / "e" / "edited_labels.png")
    assert edited[y, x] != BUILDING
    report = json.loads((tmp_path / "e" / "edit.json").read_text())
    mask = read_image(tmp_path / "e" / "mask.png")[..., 0] > 0
    assert report["mask"]["pixels"] == int(mask.sum()) > report["changed_pixels"] > 0
    assert "mask:" in printed and "edit.json" in printed


def test_edit_from_a_gimp_painted_colour_map(capsys, tiny_world, tmp_path):
    import cv2

    _, map_path = _tile(tiny_world)
    labels = read_label_map(map_path)
    painted = labels.copy()
    painted[5:20, 5:20] = ROAD
    rgb = cv2.GaussianBlur(labels_to_colors(painted, SYNTH_PALETTE), (3, 3), 0.7)  # anti-aliased export
    write_image(tmp_path / "gimp.png", rgb)
    assert (
        main(
            [
                "edit",
                "--map",
                str(map_path),
                "--palette",
                "synth",
                "--edited-map",
                str(tmp_path / "gimp.png"),
                "--radius",
                "0",
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    edited = read_label_map(tmp_path / "e" / "edited_labels.png")
    assert (edited[6:19, 6:19] == ROAD).all()
    # A colour that is no class's is refused, naming it.
    rgb[2, 3] = (255, 0, 255)
    write_image(tmp_path / "bad.png", rgb)
    msg = _err(
        capsys,
        ["edit", "--map", str(map_path), "--palette", "synth", "--edited-map", str(tmp_path / "bad.png"), "--out", str(tmp_path / "e2")],
    )
    assert "colour (255, 0, 255)" in msg and "(x=3, y=2)" in msg and not (tmp_path / "e2").exists()


def test_manipulate_with_a_spec_and_each_blend_mode(capsys, tiny_world, tiny_ckpt, tmp_path):
    image, map_path = _tile(tiny_world)
    labels = read_label_map(map_path)
    x, y = _building_point(labels)
    (tmp_path / "e.yaml").write_text(
        f"edits:\n  - {{op: remove, at: [{x}, {y}]}}\n  - {{op: insert, class: water, shape: ellipse, box: [30, 30, 46, 44]}}\n"
    )
    original = read_image(image)
    for mode in ("hard", "feather", "laplacian", "poisson", "poisson-mixed"):
        out = tmp_path / mode
        assert main([*_base(tiny_ckpt, image, map_path, out), "--spec", str(tmp_path / "e.yaml"), "--blend", mode]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["outside_mask_identical"] and metrics["blend"]["mode"] == mode
        assert metrics["seam"]["seam"] is not None and len(metrics["edits"]) == 2
        result, mask = read_image(out / "result.png"), read_image(out / "mask_raw.png")[..., 0] > 0
        assert np.array_equal(result[~mask], original[~mask])
        for name in ("generated.png", "side_by_side.png", "edited_labels.png", "report.html"):
            assert (out / name).is_file()
        assert metrics["blend"].get("feather", DEFAULT_FEATHER) == DEFAULT_FEATHER == DEFAULT_RADIUS  # the ring the dilation adds
    printed = capsys.readouterr().out
    assert "side by side:" in printed and "wider than --radius" not in printed
    ratio = json.loads((tmp_path / "poisson-mixed" / "metrics.json").read_text())["seam"]["seam_ratio"]
    assert f"seam: {ratio:.3f} times the original's own steps across the mask's border" in printed  # a figure a user can read
    # a feather wider than the dilation lets the removed object's rim through: said in one line, and the run goes on
    out = tmp_path / "wide"
    assert main([*_base(tiny_ckpt, image, map_path, out), "--spec", str(tmp_path / "e.yaml"), "--radius", "3", "--feather", "8"]) == 0
    assert "--feather 8 is wider than --radius 3" in capsys.readouterr().out and (out / "result.png").is_file()


def test_manipulate_with_a_user_mask_and_an_edited_map(capsys, tiny_world, tiny_ckpt, tmp_path):
    image, map_path = _tile(tiny_world)
    labels = read_label_map(map_path)
    edited = labels.copy()
    edited[10:20, 10:20] = ROAD
    write_label_map(tmp_path / "edited.png", edited)
    region = np.zeros((48, 48), np.uint8)
    region[8:22, 8:22] = 255
    write_image(tmp_path / "mask.png", np.repeat(region[..., None], 3, 2))
    assert (
        main(
            [
                *_base(tiny_ckpt, image, map_path, tmp_path / "m"),
                "--edited-map",
                str(tmp_path / "edited.png"),
                "--mask",
                str(tmp_path / "mask.png"),
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["mask_area_pixels"] == 14 * 14 and metrics["changed_pixels_outside_mask"] == 0
    # The wrong size of mask is one sentence, and nothing is written.
    write_image(tmp_path / "small.png", np.zeros((40, 48, 3), np.uint8))
    msg = _err(
        capsys,
        [
            *_base(tiny_ckpt, image, map_path, tmp_path / "m2"),
            "--edited-map",
            str(tmp_path / "edited.png"),
            "--mask",
            str(tmp_path / "small.png"),
        ],
    )
    assert "is 48x40 but the image is 48x48" in msg and not (tmp_path / "m2").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--polygon", "100,100 120,100 120,120", "--remove", "building"], "lies outside the 48x48 map"),
        (["--remove", "castle", "--box", "0,0,10,10"], "unknown class 'castle'"),
        (["--remove-at", "60,5"], "lies outside the 48x48 map"),
        (["--remove", "building"], "needs exactly one of --box or --polygon"),
        (["--insert", "water", "--box", "0,0,5,5", "--remove-at", "1,1"], "give one edit option"),
        (["--blend", "smudge", "--insert", "water", "--box", "0,0,5,5"], "unknown blend mode 'smudge'"),
        ([], "say what to edit"),
    ],
)
def test_bad_edits_are_one_sentence_and_leave_nothing(capsys, tiny_world, tiny_ckpt, tmp_path, extra, message):
    image, map_path = _tile(tiny_world)
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "m"), *extra])
    assert message in msg
    assert not (tmp_path / "m").exists()


def test_spec_with_a_typo_fails_before_anything_is_written(capsys, tiny_world, tiny_ckpt, tmp_path):
    image, map_path = _tile(tiny_world)
    (tmp_path / "e.yaml").write_text("edits:\n  - {op: remvoe, at: [1, 1]}\n")
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "m"), "--spec", str(tmp_path / "e.yaml")])
    assert "unknown operation 'remvoe'; did you mean 'remove'?" in msg and not (tmp_path / "m").exists()


def test_tiled_generation_through_the_command(tiny_world, tiny_ckpt, tmp_path):
    image, map_path = _tile(tiny_world)
    args = [
        *_base(tiny_ckpt, image, map_path, tmp_path / "t"),
        "--insert",
        "water",
        "--box",
        "2,2,10,10",
        "--tile-size",
        "24",
        "--overlap",
        "8",
    ]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["tile_size"] == 24 and 0 < metrics["tiles_generated"] < metrics["tiles_total"]
    assert metrics["outside_mask_identical"]


def test_batch_mode_writes_a_manifest_and_records_failures(capsys, tiny_world, tiny_ckpt, tmp_path):
    (tmp_path / "e.yaml").write_text("edits:\n  - {op: remove, class: building, choose: random}\n")
    images = tmp_path / "imgs"
    maps = tmp_path / "maps"
    for i in range(3):
        image, map_path = _tile(tiny_world, i)
        write_image(images / f"t{i}.png", read_image(image))
        labels = read_label_map(map_path)
        if i == 2:
            labels[labels == BUILDING] = 0  # nothing to remove here: recorded as failed
        write_label_map(maps / f"t{i}.png", labels)
    args = [
        "manipulate",
        "--checkpoint",
        str(tiny_ckpt),
        "--image",
        str(images),
        "--map",
        str(maps),
        "--spec",
        str(tmp_path / "e.yaml"),
        "--out",
        str(tmp_path / "b"),
        "--quiet",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "2 of 3 images manipulated; 1 failed" in printed and "manifest:" in printed
    rows = list(csv.DictReader((tmp_path / "b" / "manifest.csv").read_text().splitlines()))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert "no object of class 2" in rows[2]["error"] and not (tmp_path / "b" / "t2").exists()
    assert (tmp_path / "b" / "t0" / "result.png").is_file() and float(rows[0]["mask_area_pixels"]) > 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["files"][0]["edits"] and manifest["config"]["spec"].endswith("e.yaml")


def test_map_from_a_cyclegan_image_to_map_model(capsys, tiny_world, tiny_ckpt, tmp_path):
    from tests.conftest import tiny_cyclegan

    cg = tiny_cyclegan(tiny_world, tmp_path / "cg")
    image, _ = _tile(tiny_world)
    args = [
        "manipulate",
        "--checkpoint",
        str(tiny_ckpt),
        "--image",
        str(image),
        "--map-from",
        str(cg),
        "--insert",
        "water",
        "--box",
        "5,5,20,20",
        "--out",
        str(tmp_path / "m"),
        "--quiet",
    ]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert str(cg) in metrics["map"] and metrics["outside_mask_identical"]
    # The CycleGAN itself renders maps too (map -> image is BtoA here), with the palette named.
    insert = ["--image", str(image), "--insert", "water", "--box", "5,5,20,20", "--quiet"]
    assert main(["manipulate", "--checkpoint", str(cg), "--palette", "synth", *insert, "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["map"].startswith("the generator's own")
    msg = _err(capsys, ["manipulate", "--checkpoint", str(cg), *insert, "--out", str(tmp_path / "x")])
    assert "--palette" in msg


def test_finetune_before_manipulating(capsys, tiny_world, tiny_ckpt, tmp_path):
    image, map_path = _tile(tiny_world)
    args = [
        *_base(tiny_ckpt, image, map_path, tmp_path / "f"),
        "--insert",
        "water",
        "--box",
        "5,5,20,20",
        "--finetune",
        "--finetune-steps",
        "4",
    ]
    assert main(args) == 0
    out = tmp_path / "f"
    assert (out / "finetune" / "run" / "checkpoints").is_dir()
    # The windows of the image are trained on in memory: no intermediate image is written.
    assert not (out / "finetune" / "data").exists()
    assert not [p for p in (out / "finetune").rglob("window_*")]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finetuned"] is True and metrics["outside_mask_identical"]
    # the default recipe memorises the whole image with its position code and FINETUNE_DETAIL detail channels
    assert metrics["finetune_recipe"] == "memorise" and metrics["finetune_detail"] == FINETUNE_DETAIL > 0
    assert metrics["finetune_precision"]["used"] in ("fp32", "bf16") and metrics["finetune_precision"]["why"]


def test_finetune_memorises_an_image_whose_sides_are_no_multiple_of_the_generators(tiny_world, tiny_ckpt, tmp_path):
    # a 900x900 SpaceNet tile failed here: the whole image trained unpadded; it is now padded as rendering pads it
    image, map_path = _tile(tiny_world)
    write_image(tmp_path / "odd.png", read_image(image)[:45, :46])
    write_label_map(tmp_path / "odd_map.png", read_label_map(map_path)[:45, :46])
    edit = ["--insert", "water", "--box", "5,5,20,20", "--finetune", "--finetune-steps", "2"]
    assert main([*_base(tiny_ckpt, tmp_path / "odd.png", tmp_path / "odd_map.png", tmp_path / "o"), *edit]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["finetune_recipe"] == "memorise" and metrics["finetune_detail"] == FINETUNE_DETAIL
    assert read_image(tmp_path / "o" / "result.png").shape == (45, 46, 3) and metrics["outside_mask_identical"]


def test_finetune_without_a_checkpoint_starts_from_the_resize_twin_and_without_finetune_from_the_shipped_one(tiny_world, tmp_path):
    from cimgen.generators import shipped_checkpoint

    image, map_path = _tile(tiny_world)
    write_image(tmp_path / "small.png", read_image(image)[:32, :32])
    write_label_map(tmp_path / "small_map.png", read_label_map(map_path)[:32, :32])
    base = ["manipulate", "--image", str(tmp_path / "small.png"), "--map", str(tmp_path / "small_map.png"), "--quiet"]
    edit = ["--insert", "water", "--box", "5,5,20,20"]
    assert main([*base, "--out", str(tmp_path / "f"), *edit, "--finetune", "--finetune-steps", "1", "--finetune-precision", "fp32"]) == 0
    assert main([*base, "--out", str(tmp_path / "p"), *edit]) == 0
    used = {k: json.loads((tmp_path / k / "metrics.json").read_text())["checkpoint"] for k in ("f", "p")}
    assert used == {"f": str(shipped_checkpoint("resize")), "p": str(shipped_checkpoint())}


def test_finetune_precision_is_chosen_or_refused_in_one_sentence(capsys, tiny_world, tiny_ckpt, tmp_path):
    image, map_path = _tile(tiny_world)
    edit = ["--insert", "water", "--box", "5,5,20,20", "--finetune", "--finetune-steps", "2"]
    args = [*_base(tiny_ckpt, image, map_path, tmp_path / "fp32"), *edit, "--finetune-precision", "fp32"]
    assert main(args) == 0
    assert json.loads((tmp_path / "fp32" / "metrics.json").read_text())["finetune_precision"]["used"] == "fp32"
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "x"), *edit, "--finetune-precision", "fp64"])
    assert "unknown fine-tuning precision 'fp64'" in msg and not (tmp_path / "x").exists()


def test_geotiff_in_geotiff_out_keeps_the_georeferencing(tiny_world, tiny_ckpt, tmp_path):
    pytest.importorskip("rasterio", reason="GeoTIFF support is the optional 'geo' extra")
    from rasterio.crs import CRS

    from cimgen.io.geotiff import GeoInfo, read_geotiff, read_geotiff_info, write_geotiff

    image, map_path = _tile(tiny_world)
    pixels = read_image(image)
    info = GeoInfo(
        height=48,
        width=48,
        count=3,
        crs=CRS.from_epsg(32633).to_wkt(),
        transform=(0.3, 0.0, 500000.0, 0.0, -0.3, 5400000.0),
        tags={"SOURCE": "cimgen test"},
    )
    write_geotiff(tmp_path / "scene.tif", pixels, info)
    args = [*_base(tiny_ckpt, tmp_path / "scene.tif", map_path, tmp_path / "g"), "--insert", "water", "--box", "5,5,20,20"]
    assert main(args) == 0
    out = tmp_path / "g"
    result, got = read_geotiff(out / "result.tif")
    source = read_geotiff_info(tmp_path / "scene.tif")
    assert got.crs == source.crs and got.transform == source.transform and got.tags.get("SOURCE") == "cimgen test"
    mask_img, mask_info = read_geotiff(out / "mask.tif")
    assert mask_info.crs == source.crs and mask_info.transform == source.transform
    mask = mask_img[..., 0] > 0
    assert np.array_equal(result[~mask], pixels[~mask]) and mask.any()
    assert (out / "generated.tif").is_file() and (out / "preview" / "original.png").is_file()


def test_finetune_memorises_the_whole_image_with_a_position_code_by_default(capsys, tiny_world, tiny_ckpt, tmp_path):
    from cimgen.io.checkpoints import read_config

    image, map_path = _tile(tiny_world)
    edit = ["--insert", "water", "--box", "5,5,20,20", "--finetune", "--finetune-steps", "2"]
    assert main([*_base(tiny_ckpt, image, map_path, tmp_path / "m"), *edit]) == 0
    out = tmp_path / "m"
    run = max((out / "finetune" / "run" / "checkpoints").iterdir())
    config = read_config(run)
    assert config["generator"]["position_frequencies"] == 6
    trained = yaml.safe_load((out / "finetune" / "run" / "config.yaml").read_text())
    assert trained["data"]["crop_size"] == 0 and trained["data"]["flip"] is False and trained["loss"]["lambda_l1"] == MEMORISE_L1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finetune_recipe"] == "memorise" and metrics["outside_mask_identical"]
    # the old recipe on request: crops around the edit, no position code
    assert main([*_base(tiny_ckpt, image, map_path, tmp_path / "w"), *edit, "--finetune-recipe", "windows"]) == 0
    config = read_config(max((tmp_path / "w" / "finetune" / "run" / "checkpoints").iterdir()))
    trained = yaml.safe_load((tmp_path / "w" / "finetune" / "run" / "config.yaml").read_text())
    assert config["generator"].get("position_frequencies", 0) == 0 and trained["data"]["crop_size"] > 0
    # a position-coded generator renders whole maps: tiling it is refused in one sentence
    msg = _err(capsys, [*_base(str(run), image, map_path, tmp_path / "t"), "--insert", "water", "--box", "5,5,20,20", "--tile-size", "32"])
    assert "position code for one whole image" in msg and not (tmp_path / "t").exists()
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "x"), *edit, "--finetune-recipe", "all"])
    assert "finetune_recipe is 'all'; choose memorise or windows" in msg


def test_finetune_context_learns_the_image_around_the_edit_and_scores_inside(capsys, tiny_world, tiny_ckpt, tmp_path):
    from cimgen.io.checkpoints import read_config

    image, map_path = _tile(tiny_world)
    edit = ["--insert", "water", "--box", "5,5,20,20", "--finetune", "--finetune-steps", "2"]
    argv = [*_base(tiny_ckpt, image, map_path, tmp_path / "c"), *edit, "--finetune-context", "--score-inside"]
    assert main(argv) == 0
    out = tmp_path / "c"
    config = read_config(max((out / "finetune" / "run" / "checkpoints").iterdir()))
    assert config["generator"]["context"] is True and config["generator"]["position_frequencies"] == 6
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finetune_context"] is True and metrics["outside_mask_identical"]
    inside = metrics["inside"]
    assert inside["region_pixels"] == metrics["mask_area_pixels"] and 0 <= inside["faithful"] <= 1
    assert inside["changed_pixels"] == metrics["changed_label_pixels"] > 0 and inside["segmenter_accuracy"] > 0.5
    said = capsys.readouterr().out  # water is brought in: the original has none, so the floor of painted back is unknown
    assert inside["painted_back_floor"] is None
    line = f"inside the edit: faithful {inside['faithful']:.3f} (ceiling {inside['edited_class_recall']:.3f}); painted back"
    assert line in said and f"painted back {inside['painted_back']:.3f} (floor n/a, removed-class recall" in said, said
    assert f"the changed area's SSIM to the original {inside['recall']['recalled']:.3f} (two places of the image" in said
    # a detail code for this image beside the context; the fine-tuned generator renders maps of its size only
    argv = [*_base(tiny_ckpt, image, map_path, tmp_path / "d"), *edit, "--finetune-detail", "2"]
    assert main(argv) == 0
    gen = read_config(max((tmp_path / "d" / "finetune" / "run" / "checkpoints").iterdir()))["generator"]
    detail = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert gen["detail_channels"] == 2 and detail["outside_mask_identical"]
    # inside the edit its codes are read from matching places of the image (the default); a context generator withholds them
    assert detail["codes_inside"]["treatment"] == "resample" and detail["codes_inside"]["pieces"] >= 1
    assert metrics["codes_inside"]["treatment"] == "withhold" and "context" in metrics["codes_inside"]["why"]
    # the edit's fine detail is the photo's at the code sources by default; --detail-inside generated keeps the generator's
    assert detail["codes_inside"]["detail"] == "source"
    argv = [*_base(tiny_ckpt, image, map_path, tmp_path / "g"), *edit, "--finetune-detail", "2", "--detail-inside", "generated"]
    assert main(argv) == 0
    own = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert own["codes_inside"]["detail"] == "generated" and own["outside_mask_identical"]
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "s"), *edit, "--detail-inside", "sharp"])
    assert "detail_inside is 'sharp'; choose source or generated" in msg and not (tmp_path / "s").exists()
    argv = [*_base(tiny_ckpt, image, map_path, tmp_path / "w"), *edit, "--code-inside", "withhold"]
    assert main(argv) == 0 and json.loads((tmp_path / "w" / "metrics.json").read_text())["codes_inside"] == {"treatment": "withhold"}
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "k"), *edit, "--code-inside", "keep"])
    assert "code_inside is 'keep'; choose resample or withhold" in msg and not (tmp_path / "k").exists()
    msg = _err(
        capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "e"), "--insert", "water", "--box", "5,5,20,20", "--finetune-detail", "2"]
    )
    assert "a detail code is learnt while memorising" in msg and not (tmp_path / "e").exists()
    # context is learnt while memorising: without --finetune, or with tiles, it is refused before anything runs
    msg = _err(
        capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "n"), "--insert", "water", "--box", "5,5,20,20", "--finetune-context"]
    )
    assert "context conditioning is learnt while memorising" in msg and not (tmp_path / "n").exists()
    msg = _err(capsys, [*_base(tiny_ckpt, image, map_path, tmp_path / "t"), *edit, "--finetune-context", "--tile-size", "32"])
    assert "context conditioning is learnt while memorising" in msg and not (tmp_path / "t").exists()


def test_a_jpeg_image_gets_its_edit_compressed_as_the_file_was_unless_told_not_to(tiny_world, tiny_ckpt, tmp_path, monkeypatch):
    from PIL import Image

    image, map_path = _tile(tiny_world)
    Image.open(image).convert("RGB").save(tmp_path / "photo.jpg", quality=75)
    x, y = _building_point(read_label_map(map_path))
    edit = ["--remove-at", f"{x},{y}"]
    opened, real_open = [], Image.open
    monkeypatch.setattr(
        Image,
        "open",
        lambda fp, *a, **k: opened.append(str(getattr(fp, "name", "") if hasattr(fp, "read") else fp)) or real_open(fp, *a, **k),
    )
    assert main([*_base(tiny_ckpt, tmp_path / "photo.jpg", map_path, tmp_path / "m"), *edit]) == 0
    assert opened.count(str(tmp_path / "photo.jpg")) == 1  # the pixels and the compression come from one opening
    monkeypatch.undo()
    assert main([*_base(tiny_ckpt, tmp_path / "photo.jpg", map_path, tmp_path / "n"), *edit, "--no-match-jpeg"]) == 0
    assert main([*_base(tiny_ckpt, image, map_path, tmp_path / "png"), *edit]) == 0
    matched, plain = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("m", "n"))
    assert matched["jpeg"]["matched"] and matched["jpeg"]["subsampling"] == "4:2:0" and matched["outside_mask_identical"]
    assert plain["jpeg"] == {"matched": False, "why": "--no-match-jpeg"}
    assert "jpeg" not in json.loads((tmp_path / "png" / "metrics.json").read_text())  # a PNG has no compression to match
    mask = read_image(tmp_path / "m" / "mask_raw.png")[..., 0] > 0
    a, b = read_image(tmp_path / "m" / "result.png"), read_image(tmp_path / "n" / "result.png")
    assert np.array_equal(a[~mask], b[~mask]) and not np.array_equal(a[mask], b[mask])


def test_without_steps_the_memorise_recipe_takes_its_steps_from_the_images_size(tiny_ckpt, tiny_world, tmp_path, monkeypatch):
    """--finetune without --finetune-steps memorises for memorise_steps(height, width) whole-image steps, the last quarter
    with linear decay; the run's config says so (training itself is cut short here)."""
    import cimgen.runs.manipulate as rm
    from cimgen.generators import load_renderer
    from cimgen.runs.options import memorise_steps

    class Stop(Exception):
        pass

    seen = {}

    def fake_run(cfg, run_dir, **kw):
        seen["loop"], seen["generator"] = cfg.loop, kw["init_checkpoint"][0]["generator"]
        raise Stop

    monkeypatch.setattr(rm, "run_pix2pixhd", fake_run)
    image, map_path = _tile(tiny_world)
    labels, photo = read_label_map(map_path), read_image(image)
    renderer = load_renderer(tiny_ckpt)
    with pytest.raises(Stop):
        rm.finetune_renderer(
            renderer, photo, labels, labels > 0, tmp_path / "f", source=str(tiny_ckpt), steps=None, crop=32, palette="",
            device="cpu", echo=None, progress=False,
        )  # fmt: skip
    total = memorise_steps(*labels.shape)
    assert total == 270  # a 48x48 tile is far under 600x600
    assert (seen["loop"].epochs, seen["loop"].decay_epochs) == (total - total // 4, total // 4)
    assert seen["generator"]["detail_scale"] == 1 and seen["generator"]["detail_smooth"] is True


def test_a_removed_buildings_shadow_joins_the_mask_unless_told_not_to(capsys, tiny_world, tiny_ckpt, tmp_path):
    image_path, map_path = _tile(tiny_world)
    labels = read_label_map(map_path)
    image = read_image(image_path).astype(np.float32)
    buildings = labels == BUILDING
    shade = np.zeros_like(buildings)
    for t in range(1, 5):  # every building casts a 4-pixel shadow down and to the right
        shade[t:, t:] |= buildings[:-t, :-t]
    shade &= labels != BUILDING
    image[shade] *= 0.35
    shaded = tmp_path / "shaded.png"
    write_image(shaded, image.astype(np.uint8))
    x, y = _building_point(labels)
    masks = {}
    for choice in ("auto", "off"):
        out = tmp_path / choice
        assert main([*_base(tiny_ckpt, shaded, map_path, out), "--remove-at", f"{x},{y}", "--shadows", choice]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        masks[choice] = read_image(out / "mask_raw.png")[..., 0] > 0
        if choice == "auto":  # the synthetic palette is seen from above: shadows any way
            assert metrics["shadow"]["found"] and metrics["shadow"]["direction"] == 45.0
            assert metrics["mask_from"].startswith("changed labels and the removed objects' shadows")
        else:
            assert "shadow" not in metrics and metrics["mask_from"] == "changed labels, dilated"
    assert masks["auto"].sum() > masks["off"].sum() and not (masks["off"] & ~masks["auto"]).any()
    msg = _err(capsys, [*_base(tiny_ckpt, shaded, map_path, tmp_path / "bad"), "--remove-at", f"{x},{y}", "--shadows", "up"])
    assert "shadows is 'up'; choose auto, off, any, down" in msg and not (tmp_path / "bad").exists()


def test_seam_cut_gives_up_part_of_the_masks_border_unless_turned_off(capsys, tiny_world, tiny_ckpt, tmp_path):
    image_path, map_path = _tile(tiny_world)
    x, y = _building_point(read_label_map(map_path))
    runs = {}
    for name, extra in (("default", []), ("off", ["--seam-cut", "0"]), ("two", ["--seam-cut", "2"])):
        out = tmp_path / name
        assert main([*_base(tiny_ckpt, image_path, map_path, out), "--remove-at", f"{x},{y}", *extra]) == 0
        runs[name] = (json.loads((out / "metrics.json").read_text()), read_image(out / "mask_raw.png")[..., 0] > 0)
    (default, cut), (off, whole), (two, _) = runs["default"], runs["off"], runs["two"]
    assert "seam_cut" not in off and default["seam_cut"]["pixels"] == 4 and two["seam_cut"]["pixels"] == 2
    assert default["seam_cut"]["mask_pixels_before"] == off["mask_area_pixels"] == int(whole.sum())
    assert default["mask_area_pixels"] == default["seam_cut"]["mask_pixels"] == int(cut.sum()) <= int(whole.sum())
    assert not (cut & ~whole).any() and default["outside_mask_identical"]
    msg = _err(capsys, [*_base(tiny_ckpt, image_path, map_path, tmp_path / "bad"), "--remove-at", f"{x},{y}", "--seam-cut", "-1"])
    assert "--seam-cut" in msg and not (tmp_path / "bad").exists()
