"""Tiled scenes: the tile grid, windowed reads (rasterio and Pillow), edge modes, real aerial samples and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cimgen.data import tiles
from cimgen.data.paired import DataConfig, LabelDataset, PairedDataset
from cimgen.data.tiles import SceneReader, pad_to, tile_starts
from cimgen.errors import CimgenError
from cimgen.io.images import read_id_map, read_image
from tests.conftest import shared

HEIGHT, WIDTH = 1000, 1200


def write_scenes(root, suffix=".png", names=("north", "south")):
    """Inria-style scenes (images/ and gt/ with the same names): random photos and 0/255 building masks."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(exist_ok=True)
    scenes = {}
    for i, name in enumerate(names):
        rng = np.random.default_rng(i)
        image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        mask = np.kron(rng.integers(0, 2, (10, 12)), np.ones((100, 100), np.int64)).astype(np.uint8) * 255
        Image.fromarray(image).save(root / "images" / f"{name}{suffix}")
        Image.fromarray(mask).save(root / "gt" / f"{name}{suffix}")
        scenes[name] = (image, mask)
    return scenes


def tiles_config(root, **kw):
    return DataConfig(**{"root": str(root), "format": "tiles", "label_dir": "gt", "label_nc": 2, "flip": False, **kw})


def test_tile_starts_per_edge_mode():
    assert tile_starts(1000, 500, 500, "skip") == [0, 500]
    assert tile_starts(1200, 500, 500, "skip") == [0, 500]
    assert tile_starts(1200, 500, 500, "pad") == [0, 500, 1000]
    assert tile_starts(1200, 500, 500, "shift") == [0, 500, 700]
    assert tile_starts(1200, 500, 250, "skip") == [0, 250, 500]
    assert tile_starts(1000, 500, 250, "skip") == [0, 250, 500]
    assert tile_starts(400, 500, 500, "pad") == [0]
    assert tile_starts(400, 500, 500, "skip") == []
    with pytest.raises(CimgenError, match="tile_edge must be one of skip, pad, shift"):
        tile_starts(10, 5, 5, "wrap")


@pytest.mark.parametrize(("edge", "count"), [("skip", 4), ("shift", 6), ("pad", 6)])
def test_tiles_are_the_windows_of_the_scene(tmp_path, edge, count):
    scenes = write_scenes(tmp_path, names=("north",))
    ds = PairedDataset(tiles_config(tmp_path, tile_edge=edge), training=False)
    assert len(ds) == count
    image, mask = scenes["north"]
    for i in range(count):
        tile = ds.source.tiles[i]
        labels, photo = ds.load(i)
        assert labels.shape == (500, 500) and photo.shape == (500, 500, 3)
        want_labels = (mask[tile.y : tile.y + 500, tile.x : tile.x + 500] == 255).astype(np.int64)
        want_photo = image[tile.y : tile.y + 500, tile.x : tile.x + 500]
        h, w = want_labels.shape
        assert np.array_equal(labels[:h, :w], want_labels) and np.array_equal(photo[:h, :w], want_photo)
        # Only pad mode has tiles reaching past the scene; their outside part is black and class ignore_to (0).
        assert (w < 500) == (edge == "pad" and tile.x == 1000)
        assert not labels[:, w:].any() and not photo[:, w:].any()
    assert ds.name(count - 1) == {"skip": "north_y500_x500", "shift": "north_y500_x700", "pad": "north_y500_x1000"}[edge]


def test_stride_crop_and_flip_within_tiles(tmp_path):
    write_scenes(tmp_path, names=("north",))
    ds = PairedDataset(tiles_config(tmp_path, tile_size=500, tile_stride=250, crop_size=256, flip=True), seed=0)
    assert len(ds) == 9
    item = ds[4]
    assert item["label"].shape == (256, 256) and item["image"].shape == (3, 256, 256)
    assert set(item["label"].unique().tolist()) <= {0, 1} and "edge" not in item


def test_pillow_path_decodes_each_scene_once_in_order(tmp_path):
    write_scenes(tmp_path)
    ds = PairedDataset(tiles_config(tmp_path), training=False)
    assert len(ds) == 8
    ds.check_all()
    assert ds.source.reader.decodes == 4  # two scenes, an image and a mask each
    # Only one scene is held at a time.
    assert {path.parent.name for path, _ in ds.source.reader._decoded.values()} == {"images", "gt"}
    assert {path.stem for path, _ in ds.source.reader._decoded.values()} == {"south"}


def test_geotiff_windows_equal_pillow_and_skip_decoding(tmp_path, monkeypatch):
    assert tiles.rasterio is not None, "rasterio is a dependency of cimgen (pyproject.toml)"
    write_scenes(tmp_path, suffix=".tif")
    cfg = tiles_config(tmp_path, tile_size=300, tile_edge="pad")
    windowed = PairedDataset(cfg, training=False)
    assert windowed.source.reader.use_rasterio
    got = [windowed.load(i) for i in (0, 7, len(windowed) - 1)]
    assert windowed.source.reader.decodes == 0
    monkeypatch.setattr(tiles, "rasterio", None)
    decoded = PairedDataset(cfg, training=False)
    assert not decoded.source.reader.use_rasterio and len(decoded) == len(windowed) == 2 * 4 * 4
    for (labels, image), i in zip(got, (0, 7, len(windowed) - 1)):
        want_labels, want_image = decoded.load(i)
        assert np.array_equal(labels, want_labels) and np.array_equal(image, want_image)
    assert decoded.source.reader.decodes > 0
    with pytest.raises(CimgenError, match="need rasterio"):
        SceneReader(use_rasterio=True)


def test_tile_input_errors(tmp_path):
    write_scenes(tmp_path, names=("north",))
    with pytest.raises(CimgenError, match=r"tile_size 1100 is larger than scene north.png \(1200x1000\)"):
        PairedDataset(tiles_config(tmp_path, tile_size=1100))
    assert len(PairedDataset(tiles_config(tmp_path, tile_size=1100, tile_edge="pad"))) == 2
    with pytest.raises(CimgenError, match="crop_size 600 is larger than tile_size 500"):
        PairedDataset(tiles_config(tmp_path, crop_size=600))
    with pytest.raises(CimgenError, match="tile_edge must be one of"):
        PairedDataset(tiles_config(tmp_path, tile_edge="wrap"))
    with pytest.raises(CimgenError, match=r"value 1 at pixel .* not one of label_values \[0, 255\]"):
        Image.fromarray(np.ones((HEIGHT, WIDTH), np.uint8)).save(tmp_path / "gt" / "north.png")
        PairedDataset(tiles_config(tmp_path)).load(0)
    Image.fromarray(np.zeros((HEIGHT, WIDTH - 1), np.uint8)).save(tmp_path / "gt" / "north.png")
    with pytest.raises(CimgenError, match="scene north.png is 1200x1000 but its mask north.png is 1199x1000"):
        PairedDataset(tiles_config(tmp_path))
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "gt" / "east.png")
    with pytest.raises(CimgenError, match="scene 'east' has no matching image"):
        PairedDataset(tiles_config(tmp_path))
    with pytest.raises(CimgenError, match="cannot pad a 6x5 window down to 4x4"):
        pad_to(np.zeros((5, 6)), 4, 0)


def test_real_spacenet_scenes_and_building_masks():
    root = shared("spacenet-rio-buildings")
    cfg = DataConfig(root=str(root), format="tiles", image_dir="3band", label_dir="building_mask_vis", label_nc=2, tile_size=200)
    ds = PairedDataset(cfg, training=False)
    # 9 scenes of 438x406: two tile starts along each axis.
    assert len(ds) == 9 * 4 and ds.name(1) == "3band_013022223130_Public_img50_y0_x200"
    parts = [ds.load(i) for i in range(4)]
    labels = np.concatenate([lab.ravel() for lab, _ in parts])
    pixels = np.concatenate([img.reshape(-1, 3) for _, img in parts])
    assert set(np.unique(labels)) == {0, 1}
    # Roofs (1) and the rest differ in colour: the mask belongs to the photo.
    assert abs(pixels[labels == 1].mean() - pixels[labels == 0].mean()) > 3
    scene = ds.source.scenes[0]
    whole_mask, whole_image = read_id_map(scene.label), read_image(scene.image)
    assert np.array_equal(parts[3][0], whole_mask[200:400, 200:400] == 255)
    assert np.array_equal(parts[3][1], whole_image[200:400, 200:400])


def test_real_airtiler_masks_beside_images():
    root = shared("airtiler-samples")
    cfg = DataConfig(
        root=str(root),
        format="tiles",
        image_dir="images",
        label_dir="images",
        image_pattern="image{name}",
        label_pattern="mask{name}",
        label_values=(0, 1),
        label_nc=2,
        tile_size=128,
    )
    ds = PairedDataset(cfg, training=False)
    assert len(ds) == 2 * 4 and ds.name(4) == "2_y0_x0"
    labels, image = ds.load(5)
    assert np.array_equal(labels, read_id_map(root / "images" / "mask2.png")[:128, 128:])
    assert np.array_equal(image, read_image(root / "images" / "image2.png")[:128, 128:])
    # The default 0/255 reading names the problem instead of misreading 0/1 masks.
    with pytest.raises(CimgenError, match=r"not one of label_values \[0, 255\]"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "label_values": ()})).check_all()


def test_label_only_tiles_never_open_the_scene_images(tmp_path):
    scenes = write_scenes(tmp_path, names=("north",))
    ds = LabelDataset(tiles_config(tmp_path))
    item = ds[3]
    assert item["name"] == "north_y500_x500"
    assert np.array_equal(item["label"].numpy(), scenes["north"][1][500:1000, 500:1000] == 255)
    assert ds.source.reader.decodes == 1 and set(ds.source.reader._decoded) == {"mask"}
