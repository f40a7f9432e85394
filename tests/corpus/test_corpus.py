"""The bad-input corpus through every file-reading command: one clean sentence and nothing left behind, or success where the input is legitimate."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests.corpus.make_corpus import H, W, make_corpus
from tests.corpus.matrix import commands, declared_runs, run_matrix

pytestmark = pytest.mark.slow
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _declared(folder: Path) -> list[tuple[str, str, str]]:
    """(command, slot, item) of every run the matrix declares, from its definition alone (nothing is run)."""
    # Which items go in which slot does not depend on the good inputs, so placeholders stand in for them.
    return declared_runs(make_corpus(folder), commands(defaultdict(lambda: folder / "unused")))


def test_every_command_handles_every_corpus_item_cleanly(tmp_path):
    outcomes = run_matrix(tmp_path)
    bad = [f"{o.command} {o.slot}={o.item.name}: {o.why} (rc {o.rc}) {o.stderr[-300:]}" for o in outcomes if not o.clean]
    assert not bad, "\n".join(bad)
    declared = _declared(tmp_path / "declared")
    # every declared run ran, once and in order: the count is exact, and grows with the corpus
    assert [(o.command, o.slot, o.item.name) for o in outcomes] == declared
    assert len(outcomes) == len(declared) and len(set(declared)) == len(declared)
    assert len({o.command for o in outcomes}) == 23
    assert {o.item.kind for o in outcomes} == {"image", "map", "mask", "spec", "config", "checkpoint", "official", "palette"}


def test_the_reliability_pages_give_the_number_of_runs_the_matrix_declares(tmp_path):
    """docs/reliability-corpus.md and docs/reliability.md state the matrix's size; regenerate them when the corpus grows:
    ``python -m tests.corpus.matrix --write docs/reliability-corpus.md``."""
    declared = _declared(tmp_path)
    runs, items, cmds = len(declared), len({d[2] for d in declared}), len({d[0] for d in declared})
    head = (DOCS / "reliability-corpus.md").read_text().splitlines()[0]
    assert head == f"{runs} runs ({items} items x {cmds} commands, where the item fits an input of the command): {runs} clean."
    page = " ".join((DOCS / "reliability.md").read_text().split())
    assert f"**{runs} runs** ({items} items, {cmds} commands), **all clean**" in page and f"All {runs} runs are clean." in page
    assert re.search(rf"It has {items} items", page)


def test_legitimate_images_are_read_right_side_up_and_in_range(tmp_path):
    """RGBA, palette, CMYK, 16-bit, float and EXIF-rotated files all come in as HxWx3 uint8 of the right orientation."""
    from cimgen.io.images import read_image
    from tests.corpus.make_corpus import good_image

    items = {i.name: i for i in make_corpus(tmp_path)}
    ref = good_image().astype(np.int32)
    for name in (
        "image_gray.png",
        "image_rgba.png",
        "image_palette.png",
        "image_cmyk.jpg",
        "image_exif_rotated.jpg",
        "image_gray16.tif",
        "image_float.tif",
    ):
        img = read_image(items[name].path)
        assert img.shape == (H, W, 3) and img.dtype == np.uint8, name
    rotated = read_image(items["image_exif_rotated.jpg"].path).astype(np.int32)
    upright, upside_down = np.abs(rotated - ref).mean(), np.abs(rotated - ref[::-1, ::-1]).mean()
    assert upright < 12 and upright < upside_down / 3  # JPEG loss only: the picture is upright
    gray = ref.mean(-1)
    for name in ("image_gray.png", "image_gray16.tif", "image_float.tif"):
        assert np.abs(read_image(items[name].path)[..., 0] - gray).max() <= 1.5, name


def test_the_web_editor_takes_every_corpus_image_or_says_why(tmp_path):
    """The same images as uploads to ``cimgen app`` (its library side): legitimate ones load with the map, the others get one sentence."""
    from cimgen.app.session import Limits, upload_scene
    from cimgen.errors import CimgenError
    from cimgen.io.images import write_label_map
    from cimgen.palette import SYNTH_PALETTE
    from tests.corpus.make_corpus import good_labels

    items = make_corpus(tmp_path / "corpus")
    good_map = write_label_map(tmp_path / "map.png", good_labels())
    limits = Limits(max_upload_mb=25, max_side=4096)
    tried = 0
    for item in items:
        if item.kind == "image":
            tried += 1
            if item.legit:
                scene = upload_scene(item.path, good_map, SYNTH_PALETTE, limits=limits)
                assert scene.image.shape == (H, W, 3), item.name
            else:
                with pytest.raises(CimgenError) as e:
                    upload_scene(item.path, good_map, SYNTH_PALETTE, limits=limits)
                assert "\n" not in str(e.value), item.name
        elif item.kind == "map":
            tried += 1
            with pytest.raises(CimgenError):
                upload_scene(items[0].path.parent / "image_gray.png", item.path, SYNTH_PALETTE, limits=limits)
    assert tried == 28
