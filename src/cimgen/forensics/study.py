"""The "spot the fake" human study: a shuffled mix of pristine and manipulated images, answers scored and written to CSV.

The paper calls for a study of whether people can tell its manipulations from real images.
A study folder holds the two kinds side by side, in either of two layouts::

    pristine/<name>.png  manipulated/<name>.png  [masks/<name>.png]          (any images)
    pristine/<name>.png  forgeries/images/<name>.png  forgeries/masks/...    (``cimgen detect forgeries``)

Masks (white = edited), when present, let a click on "where the edit is" be scored too.
Every answer is appended to ``answers.csv`` (one row per answer, all participants), and
``accuracy.csv`` is rewritten from it: one row per image and overall rows. The web editor's
"Spot the fake" tab (``cimgen app``) is the front end; nothing here depends on it.
"""

from __future__ import annotations

import csv
import io
import random
import threading
from dataclasses import dataclass
from pathlib import Path

from cimgen.errors import CimgenError
from cimgen.io.images import list_images, read_mask, write_text

PRISTINE, MANIPULATED = "pristine", "manipulated"
ANSWERS = (PRISTINE, MANIPULATED)
ANSWER_FIELDS = ("participant", "order", "image", "truth", "answer", "correct", "click_x", "click_y", "click_in_mask", "seconds")
ACCURACY_FIELDS = ("image", "truth", "answers", "correct", "accuracy", "clicks_scored", "clicks_in_mask", "click_hit_rate")
# answers.csv is shared by every participant of a study; appends from concurrent sessions take turns.
_WRITE_LOCK = threading.Lock()


@dataclass(frozen=True)
class StudyItem:
    """One image shown in the study."""

    path: Path
    """The image file."""
    truth: str
    """pristine or manipulated."""
    mask: Path | None
    """Where it was edited (white), for manipulated images with a mask."""
    scene: str
    """The file's stem: a pristine image and its manipulation share it."""

    @property
    def key(self) -> str:
        """How the image is named in the CSVs: its kind and file name."""
        return f"{self.truth}/{self.path.name}"


def _images(folder: Path) -> dict[str, Path]:

    return {p.stem: p for p in list_images(folder)} if folder.is_dir() else {}


def study_items(folder: str | Path, *, one_per_scene: bool = False, seed: int = 0, limit: int = 0) -> list[StudyItem]:
    """The images of a study folder, shuffled.

    Args:
        folder: a study folder (see the module docstring).
        one_per_scene: show each scene once, as its pristine or its manipulated version (picked at
            random), so nobody compares the two versions of one scene.
        seed: the shuffle (and the picks) are reproducible from it.
        limit: show at most this many images (0: all).
    """
    root = Path(folder)
    if not root.is_dir():
        raise CimgenError(f"study folder {root} does not exist")
    pristine = _images(root / "pristine")
    if (root / "manipulated").is_dir():
        fakes, masks = _images(root / "manipulated"), _images(root / "masks")
    else:
        fakes, masks = _images(root / "forgeries" / "images"), _images(root / "forgeries" / "masks")
    if not pristine or not fakes:
        raise CimgenError(
            f"study folder {root} needs images in pristine/ and in manipulated/ (or forgeries/images/, as 'cimgen detect forgeries' writes)"
        )
    items = [StudyItem(p, PRISTINE, None, s) for s, p in sorted(pristine.items())]
    items += [StudyItem(p, MANIPULATED, masks.get(s), s) for s, p in sorted(fakes.items())]
    rng = random.Random(seed)
    if one_per_scene:
        by_scene: dict[str, list[StudyItem]] = {}
        for it in items:
            by_scene.setdefault(it.scene, []).append(it)
        items = [rng.choice(group) for _, group in sorted(by_scene.items())]
    rng.shuffle(items)
    if limit < 0:
        raise CimgenError(f"the number of images must be positive (or 0 for all), got {limit}")
    return items[:limit] if limit else items


def click_in_mask(item: StudyItem, click: tuple[int, int] | None) -> bool | None:
    """Whether a click (x, y) on a manipulated image lands inside its edit; None when it cannot be scored."""
    if click is None or item.truth != MANIPULATED or item.mask is None:
        return None

    mask = read_mask(item.mask)
    x, y = int(click[0]), int(click[1])
    if not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]):
        return False
    return bool(mask[y, x])


def score_answer(
    item: StudyItem, answer: str, *, participant: str, order: int, click: tuple[int, int] | None = None, seconds: float = 0.0
) -> dict:
    """One row of ``answers.csv`` for a person's answer about ``item``."""
    if answer not in ANSWERS:
        raise CimgenError(f"an answer is '{PRISTINE}' or '{MANIPULATED}', got '{answer}'")
    inside = click_in_mask(item, click)
    return {
        "participant": participant,
        "order": order,
        "image": item.key,
        "truth": item.truth,
        "answer": answer,
        "correct": int(answer == item.truth),
        "click_x": "" if click is None else int(click[0]),
        "click_y": "" if click is None else int(click[1]),
        "click_in_mask": "" if inside is None else int(inside),
        "seconds": round(float(seconds), 2),
    }


def read_answers(path: str | Path) -> list[dict]:
    """The rows of an ``answers.csv`` (none when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and set(ANSWER_FIELDS) - set(rows[0]):
        raise CimgenError(f"{path} is not a study answers file (it lacks {', '.join(sorted(set(ANSWER_FIELDS) - set(rows[0])))})")
    return rows


def accuracy_rows(answers: list[dict]) -> list[dict]:
    """Per-image accuracy, then overall rows (all images, pristine only, manipulated only)."""

    def row(name: str, truth: str, group: list[dict]) -> dict:
        correct = sum(int(a["correct"]) for a in group)
        clicks = [int(a["click_in_mask"]) for a in group if str(a["click_in_mask"]) != ""]
        return {
            "image": name,
            "truth": truth,
            "answers": len(group),
            "correct": correct,
            "accuracy": round(correct / len(group), 4) if group else "",
            "clicks_scored": len(clicks),
            "clicks_in_mask": sum(clicks),
            "click_hit_rate": round(sum(clicks) / len(clicks), 4) if clicks else "",
        }

    by_image: dict[str, list[dict]] = {}
    for a in answers:
        by_image.setdefault(a["image"], []).append(a)
    rows = [row(name, group[0]["truth"], group) for name, group in sorted(by_image.items())]
    rows.append(row("ALL", "", answers))
    for truth in ANSWERS:
        rows.append(row(f"ALL {truth}", truth, [a for a in answers if a["truth"] == truth]))
    return rows


def _csv(rows: list[dict], fields: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: r.get(k, "") for k in fields} for r in rows)
    return buf.getvalue()


def record_answer(out: str | Path, row: dict) -> dict:
    """Append an answer to ``out/answers.csv`` and rewrite ``out/accuracy.csv``; returns the overall row.

    Both files are replaced atomically, so a crash never leaves a half-written CSV.
    """

    out = Path(out)
    with _WRITE_LOCK:
        answers = read_answers(out / "answers.csv") + [{k: str(v) for k, v in row.items()}]
        write_text(out / "answers.csv", _csv(answers, ANSWER_FIELDS))
        rows = accuracy_rows(answers)
        write_text(out / "accuracy.csv", _csv(rows, ACCURACY_FIELDS))
    return next(r for r in rows if r["image"] == "ALL")
