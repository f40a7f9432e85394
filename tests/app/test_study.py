"""The "spot the fake" study: folder layouts, shuffling, scoring, and the CSV files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.forensics.study import accuracy_rows, click_in_mask, read_answers, record_answer, score_answer, study_items
from cimgen.io.images import write_image


def make_study(root, n=3, *, layout="plain", masks=True):
    """n scenes, each pristine and manipulated; the manipulated ones edited in their top-left quarter."""
    fake_dir = root / ("manipulated" if layout == "plain" else "forgeries/images")
    mask_dir = root / ("masks" if layout == "plain" else "forgeries/masks")
    for i in range(n):
        img = np.full((32, 32, 3), 40 * i, np.uint8)
        write_image(root / "pristine" / f"s{i}.png", img)
        fake = img.copy()
        fake[:16, :16] = 255
        write_image(fake_dir / f"s{i}.png", fake)
        if masks:
            m = np.zeros((32, 32), np.uint8)
            m[:16, :16] = 255
            write_image(mask_dir / f"s{i}.png", m)
    return root


@pytest.mark.parametrize("layout", ["plain", "forgeries"])
def test_items_from_both_layouts_are_shuffled_reproducibly(tmp_path, layout):
    root = make_study(tmp_path / "study", 5, layout=layout)
    items = study_items(root, seed=1)
    assert len(items) == 10
    assert sorted(i.truth for i in items) == ["manipulated"] * 5 + ["pristine"] * 5
    assert [i.key for i in items] == [i.key for i in study_items(root, seed=1)]
    assert [i.key for i in items] != [i.key for i in study_items(root, seed=2)]
    assert all((i.mask is not None) == (i.truth == "manipulated") for i in items)
    once = study_items(root, one_per_scene=True, seed=3)
    assert sorted(i.scene for i in once) == [f"s{k}" for k in range(5)]
    assert len(study_items(root, limit=4)) == 4


def test_a_folder_without_both_kinds_is_refused(tmp_path):
    write_image(tmp_path / "x" / "pristine" / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(CimgenError, match="needs images in pristine/ and in manipulated/"):
        study_items(tmp_path / "x")
    with pytest.raises(CimgenError, match="does not exist"):
        study_items(tmp_path / "nowhere")


def test_answers_and_clicks_are_scored(tmp_path):
    items = {i.key: i for i in study_items(make_study(tmp_path / "s"))}
    fake, real = items["manipulated/s0.png"], items["pristine/s0.png"]
    assert click_in_mask(fake, (3, 3)) is True and click_in_mask(fake, (30, 30)) is False
    assert click_in_mask(fake, (300, 3)) is False
    assert click_in_mask(real, (3, 3)) is None and click_in_mask(fake, None) is None
    row = score_answer(fake, "manipulated", participant="p1", order=1, click=(2, 5), seconds=1.234)
    assert row["correct"] == 1 and row["click_in_mask"] == 1 and row["seconds"] == 1.23
    assert score_answer(real, "manipulated", participant="p1", order=2)["correct"] == 0
    with pytest.raises(CimgenError, match="an answer is"):
        score_answer(real, "fake", participant="p1", order=3)


def test_csv_files_hold_every_answer_and_the_accuracies(tmp_path):
    items = {i.key: i for i in study_items(make_study(tmp_path / "s"))}
    out = tmp_path / "answers"
    answers = [
        ("p1", "manipulated/s0.png", "manipulated", (4, 4)),  # right, click inside
        ("p1", "pristine/s1.png", "manipulated", None),  # wrong
        ("p2", "manipulated/s0.png", "pristine", (20, 20)),  # wrong, click outside
        ("p2", "pristine/s1.png", "pristine", None),  # right
    ]
    for k, (who, key, ans, click) in enumerate(answers):
        overall = record_answer(out, score_answer(items[key], ans, participant=who, order=k + 1, click=click))
    assert overall["answers"] == 4 and overall["correct"] == 2 and overall["accuracy"] == 0.5
    rows = read_answers(out / "answers.csv")
    assert [r["participant"] for r in rows] == ["p1", "p1", "p2", "p2"]
    with (out / "accuracy.csv").open() as f:
        acc = {r["image"]: r for r in csv.DictReader(f)}
    assert acc["manipulated/s0.png"]["accuracy"] == "0.5" and acc["manipulated/s0.png"]["click_hit_rate"] == "0.5"
    assert acc["ALL"]["answers"] == "4" and acc["ALL manipulated"]["correct"] == "1" and acc["ALL pristine"]["correct"] == "1"
    assert accuracy_rows([])[0]["answers"] == 0  # no answers yet: an overall row with nothing in it
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CimgenError, match="not a study answers file"):
        read_answers(tmp_path / "bad.csv")
