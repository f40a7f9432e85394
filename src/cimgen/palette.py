"""Label palettes: class names and colours, and conversion between colour maps and label maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import nnls

from cimgen.errors import CimgenError
from cimgen.textfiles import read_json

MAX_CLASSES = 1024
"""Most classes a palette may have (Cityscapes has 35, ADE20K 150, COCO-Stuff 182)."""
FILL_MODES = ("surrounding", "nearest", "rows")
"""How a removed object's place is filled in the map (``cimgen.edit.ops.fill_from_surroundings``)."""


@dataclass(frozen=True)
class Palette:
    """Class names and their RGB colours, indexed by label id."""

    names: tuple[str, ...]
    """Class name of each label id."""
    colors: tuple[tuple[int, int, int], ...]
    """RGB colour of each label id in the colour rendering of a map."""
    things: tuple[str, ...] = field(default=(), compare=False)
    """Classes that are objects in the scene, not the ground or the background it stands on (a car, a person, a
    pole), and classes that are no scene at all: a removal fills its hole with them only when the map has no other class."""
    fill: str = field(default="surrounding", compare=False)
    """How a removal fills its hole when the edit does not say (one of ``FILL_MODES``): ``surrounding`` for maps
    seen from above (a removed house becomes the lot it stood on), ``rows`` for views from the street (what stood
    behind a removed car continues across, row by row)."""

    def __post_init__(self) -> None:
        if not self.names:
            raise CimgenError("a palette needs at least one class")
        if len(self.names) != len(self.colors):
            raise CimgenError(f"a palette needs one colour per class, got {len(self.names)} names and {len(self.colors)} colours")
        if len(set(self.names)) != len(self.names):
            raise CimgenError("palette class names must be unique")
        for c in self.colors:
            if len(c) != 3 or not all(0 <= int(v) <= 255 for v in c):
                raise CimgenError(f"palette colour {c} is not an RGB triple in 0..255")
        unknown = [t for t in self.things if t not in self.names]
        if unknown:
            raise CimgenError(f"palette 'things' names '{unknown[0]}', which is not one of its classes")
        if self.fill not in FILL_MODES:
            raise CimgenError(f"palette 'fill' is '{self.fill}'; choose {', '.join(FILL_MODES)}")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def street_view(self) -> bool:
        """Whether its maps are views from the street, as a removal that fills row by row says (``fill == "rows"``):
        shadows fall below the objects, and a row is one depth of the scene."""
        return self.fill == "rows"

    @property
    def thing_ids(self) -> tuple[int, ...]:
        """The ids of ``things``."""
        return tuple(self.names.index(t) for t in self.things)

    def class_id(self, name_or_id: str | int) -> int:
        """Resolve a class given by name or by integer id (as text or int)."""
        if isinstance(name_or_id, bool) or not isinstance(name_or_id, (str, int)):
            raise CimgenError(f"a class must be a name or an id, got {_short(name_or_id)}; the classes are: {', '.join(self.names)}")
        # isdigit() alone takes '²' and other Unicode digits that int() refuses
        if isinstance(name_or_id, int) or (name_or_id.isascii() and name_or_id.isdigit()):
            idx = int(name_or_id)
            if not 0 <= idx < self.num_classes:
                raise CimgenError(f"class id {idx} is outside 0..{self.num_classes - 1}")
            return idx
        if name_or_id not in self.names:
            raise CimgenError(f"unknown class '{name_or_id[:60]}'; the classes are: {', '.join(self.names)}")
        return self.names.index(name_or_id)

    def to_dict(self) -> dict:
        extra = {"things": list(self.things)} if self.things else {}
        if self.fill != "surrounding":
            extra["fill"] = self.fill
        return {"names": list(self.names), "colors": [list(c) for c in self.colors], **extra}

    @classmethod
    def from_dict(cls, d: dict) -> Palette:
        """A palette from ``{"names": [...], "colors": [[r, g, b], ...]}`` and optionally ``"things": [...]`` and
        ``"fill": "..."``, every value checked (as read from a file)."""
        if not isinstance(d, dict) or "names" not in d or "colors" not in d:
            raise CimgenError(f"a palette must be a mapping with 'names' and 'colors' lists, got {_short(d)}")
        unknown = sorted(map(str, set(d) - {"names", "colors", "things", "fill"}))
        if unknown:
            raise CimgenError(f"a palette has unknown key '{unknown[0]}'; it takes 'names', 'colors', 'things' and 'fill'")
        things, fill = d.get("things", []), d.get("fill", "surrounding")
        if not isinstance(things, (list, tuple)) or not all(isinstance(t, str) for t in things):
            raise CimgenError(f"a palette's 'things' must be a list of its class names, got {_short(things)}")
        if not isinstance(fill, str):
            raise CimgenError(f"a palette's 'fill' must be one of {', '.join(FILL_MODES)}, got {_short(fill)}")
        names, colors = d["names"], d["colors"]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names):
            raise CimgenError(f"a palette's 'names' must be a list of class names (non-empty text), got {_short(names)}")
        if len(names) > MAX_CLASSES:
            raise CimgenError(f"a palette has {len(names)} classes; cimgen takes at most {MAX_CLASSES}")
        for n in names:
            if n.isascii() and n.isdigit():
                raise CimgenError(f"palette class name '{n}' is a number, which would read as a class id; give the class a name")
        if not isinstance(colors, (list, tuple)):
            raise CimgenError(f"a palette's 'colors' must be a list of [r, g, b] triples, got {_short(colors)}")
        for c in colors:
            if not (
                isinstance(c, (list, tuple))
                and len(c) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
            ):
                raise CimgenError(f"palette colour {_short(c)} is not an [r, g, b] triple of integers in 0..255")
        return cls(names=tuple(names), colors=tuple(tuple(c) for c in colors), things=tuple(things), fill=fill)

    @classmethod
    def load(cls, path: str | Path) -> Palette:
        """A palette JSON file (see ``from_dict``), read as untrusted data."""
        path = Path(path)
        if not path.is_file():
            raise CimgenError(f"palette file {path} does not exist")
        try:
            return cls.from_dict(read_json(path, "palette file"))
        except CimgenError as e:
            if str(e).startswith("palette file"):
                raise
            raise CimgenError(f"palette file {path}: {e}") from None


def _short(value: object) -> str:
    """``repr(value)`` cut to a length that fits in one sentence."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# The synthetic world's classes, coloured like a web street map.
SYNTH_PALETTE = Palette(
    names=("ground", "road", "building", "water", "vegetation", "tree"),
    colors=((242, 239, 233), (255, 255, 255), (217, 208, 201), (170, 211, 223), (200, 230, 180), (163, 204, 150)),
)


def labels_to_colors(labels: np.ndarray, palette: Palette) -> np.ndarray:
    """Render an integer HxW label map as an HxWx3 uint8 colour map."""
    check_labels(labels, palette.num_classes)
    lut = np.asarray(palette.colors, dtype=np.uint8)
    return lut[labels]


def colors_to_labels(rgb: np.ndarray, palette: Palette, *, tolerance: float = 0.0, source: str = "colour map") -> np.ndarray:
    """Map an HxWx3 colour map to labels by the nearest palette colour.

    Args:
        rgb: HxWx3 uint8 colour map.
        palette: the classes and their colours.
        tolerance: largest Euclidean RGB distance accepted between a pixel and its nearest
            palette colour; 0 asks for exact colours.
        source: how to name the map in an error message.

    Raises:
        CimgenError: naming the first colour that is farther than ``tolerance`` from every
            class colour, with a pixel where it occurs.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise CimgenError(f"{source} must be an HxWx3 uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    flat = rgb.reshape(-1, 3)
    uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
    pal = np.asarray(palette.colors, dtype=np.float32)
    dist = np.linalg.norm(uniq[:, None, :].astype(np.float32) - pal[None], axis=2)
    nearest = dist.argmin(axis=1)
    bad = dist[np.arange(len(uniq)), nearest] > tolerance
    if bad.any():
        colour = uniq[np.flatnonzero(bad)[0]]
        where = np.flatnonzero(np.all(flat == colour, axis=1))[0]
        y, x = divmod(int(where), rgb.shape[1])
        raise CimgenError(
            f"{source} has colour {tuple(int(v) for v in colour)} at pixel (x={x}, y={y}), which is not within "
            f"{tolerance:g} of any palette colour"
        )
    return nearest[inverse.reshape(-1)].reshape(rgb.shape[:2]).astype(np.int64)


SNAP_TOLERANCE = 24.0
"""Default RGB distance within which a colour counts as a class colour (or a blend of two) in hand-edited maps."""


def _segment_distance(colours: np.ndarray, pal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each colour, the nearest blend ``(1-t)*p_i + t*p_j`` of two different palette colours.

    Returns (distance, i, j, t) per colour; colours with no pair (a palette of one colour) get inf.
    """
    pairs = [(i, j) for i in range(len(pal)) for j in range(i + 1, len(pal)) if np.any(pal[i] != pal[j])]
    n = len(colours)
    best = np.full(n, np.inf, np.float32)
    bi, bj, bt = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.float32)
    if not pairs or not n:
        return best, bi, bj, bt
    a = pal[[p[0] for p in pairs]]  # P x 3
    d = pal[[p[1] for p in pairs]] - a
    dd = (d * d).sum(1)
    for s in range(0, n, 2048):  # chunks keep the colours x pairs arrays small for large palettes
        c = colours[s : s + 2048, None, :]
        t = np.clip(((c - a[None]) * d[None]).sum(2) / dd[None], 0.0, 1.0)
        dist = np.linalg.norm(c - (a[None] + t[..., None] * d[None]), axis=2)
        k = dist.argmin(1)
        rows = np.arange(len(k))
        best[s : s + 2048] = dist[rows, k]
        bi[s : s + 2048] = [pairs[q][0] for q in k]
        bj[s : s + 2048] = [pairs[q][1] for q in k]
        bt[s : s + 2048] = t[rows, k]
    return best, bi, bj, bt


def snap_colors(
    rgb: np.ndarray, palette: Palette, *, tolerance: float = SNAP_TOLERANCE, source: str = "colour map"
) -> tuple[np.ndarray, dict]:
    """Map a hand-edited colour map (GIMP, Photoshop) to labels, snapping near and anti-aliased colours.

    A colour within ``tolerance`` of a class colour becomes that class. A colour within
    ``tolerance`` of a blend of two class colours (the edge of an anti-aliased brush stroke)
    becomes whichever of the two classes is more common among its 8 neighbours that are not
    themselves blends, or the nearer of the two on a tie. A pixel where several classes meet
    may be a mix of their colours: it is accepted when its colour is within ``tolerance`` of a
    mix of the classes around it, and takes the most common of them. Any other colour is refused.

    Args:
        rgb: HxWx3 uint8 colour map.
        palette: the classes and their colours.
        tolerance: largest Euclidean RGB distance to a class colour or to a two-class blend.
        source: how to name the map in an error message.

    Returns:
        (HxW int64 labels, counts) where counts has ``exact``, ``near``, ``blended`` and ``junction`` pixel counts.

    Raises:
        CimgenError: naming the first refused colour, how many pixels have it, a pixel where it
            occurs and the nearest class.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise CimgenError(f"{source} must be an HxWx3 uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    if tolerance < 0:
        raise CimgenError(f"the colour tolerance must be 0 or more, got {tolerance:g}")
    h, w = rgb.shape[:2]
    # One 24-bit key per pixel: a 1-D unique is far faster and lighter than a row-wise one on big maps.
    keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    ukeys, inverse, counts = np.unique(keys.reshape(-1), return_inverse=True, return_counts=True)
    del keys
    inverse = inverse.reshape(-1)
    uniq = np.stack([(ukeys >> 16) & 255, (ukeys >> 8) & 255, ukeys & 255], axis=1).astype(np.uint8)
    pal = np.asarray(palette.colors, dtype=np.float32)
    cols = uniq.astype(np.float32)
    dist = np.linalg.norm(cols[:, None, :] - pal[None], axis=2)
    nearest = dist.argmin(axis=1)
    dnear = dist[np.arange(len(uniq)), nearest]
    near = dnear <= tolerance
    seg, si, sj, st = _segment_distance(cols, pal)
    blended = ~near & (seg <= tolerance)
    bad = ~near & ~blended
    first = np.where(near, nearest, np.where(st < 0.5, si, sj))
    labels = first[inverse].reshape(h, w).astype(np.int64)
    is_bad = bad[inverse].reshape(h, w)
    junction = 0
    if is_bad.any():
        junction = _resolve_junctions(labels, is_bad, rgb, pal, tolerance)
        still = is_bad & (labels < 0)
        if still.any():
            y, x = (int(v) for v in np.argwhere(still)[0])
            colour = rgb[y, x]
            k = int(np.flatnonzero(np.all(uniq == colour, axis=1))[0])
            cls = int(nearest[k])
            raise CimgenError(
                f"{source} has colour {tuple(int(v) for v in colour)} in {int(counts[k])} pixel(s), e.g. at (x={x}, y={y}), which is "
                f"not within {tolerance:g} of any class colour or of a blend of the classes around it; the nearest class is "
                f"'{palette.names[cls]}' {tuple(palette.colors[cls])} at distance {dnear[k]:.1f} (paint with the palette's colours, "
                f"or raise the colour tolerance)"
            )
    # Blends start as the nearer of their two classes, then follow their neighbours.
    is_blend = blended[inverse].reshape(h, w)
    if is_blend.any():
        sure = ~is_blend & ~is_bad
        pix_i, pix_j = si[inverse].reshape(h, w), sj[inverse].reshape(h, w)
        for i, j in {(int(a), int(b)) for a, b in zip(si[blended], sj[blended])}:
            these = is_blend & (pix_i == i) & (pix_j == j)
            ni = cv2.boxFilter((sure & (labels == i)).astype(np.float32), -1, (3, 3), normalize=False)
            nj = cv2.boxFilter((sure & (labels == j)).astype(np.float32), -1, (3, 3), normalize=False)
            labels[these & (ni > nj)] = i
            labels[these & (nj > ni)] = j
    stats = {
        "exact": int(counts[dnear == 0].sum()),
        "near": int(counts[near & (dnear > 0)].sum()),
        "blended": int(counts[blended].sum()),
        "junction": junction,
    }
    return labels, stats


def _resolve_junctions(
    labels: np.ndarray, bad: np.ndarray, rgb: np.ndarray, pal: np.ndarray, tolerance: float, *, limit: int = 20000
) -> int:
    """Give pixels where several classes meet (anti-aliased to a mix of their colours) a class, in place.

    Such a pixel is accepted when its colour is within ``tolerance`` of a mix (a convex
    combination, solved by non-negative least squares) of the colours of the classes among its
    3x3 neighbours (5x5 when fewer than two classes are that close) that are not unresolved
    themselves; it takes the most common of them. Others get -1. Returns the number accepted.
    """

    labels[bad] = -1
    ys, xs = np.nonzero(bad)
    if len(ys) > limit:  # far more than edges make: a painted colour, not anti-aliasing
        return 0
    done = 0
    for y, x in zip(ys, xs):
        for r in (1, 2):
            win = labels[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1]
            vals, n = np.unique(win[win >= 0], return_counts=True)
            if len(vals) >= 2:
                break
        if len(vals) < 2:
            continue  # a stray colour inside one class is not an edge
        # min |C w - c| with w >= 0 and sum(w) = 1 (the sum enforced by a heavily weighted row).
        a = np.vstack([pal[vals].T, np.full((1, len(vals)), 1000.0)])
        weights, _ = nnls(a.astype(np.float64), np.append(rgb[y, x].astype(np.float64), 1000.0))
        if np.linalg.norm(pal[vals].T @ weights - rgb[y, x]) <= tolerance:
            labels[y, x] = vals[int(np.argmax(n))]
            done += 1
    return done


MAP_FAR = 10.0
"""Default CIELAB distance (CIE76 delta E) beyond which a rendered map's pixel matches no class colour (text, casings, icons)."""


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L in 0..100, D65) of uint8 sRGB colours of any shape ending in 3, as float32."""
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 1, 3)
    return cv2.cvtColor(flat.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(rgb.shape).astype(np.float32)


def snap_rendered_map(
    rgb: np.ndarray, palette: Palette, *, far: float = MAP_FAR, passes: int = 3, source: str = "colour map"
) -> tuple[np.ndarray, dict]:
    """Labels of a rendered map (a JPEG screenshot, a web-map tile): nearest class colour in CIELAB, edges cleaned up.

    Unlike ``snap_colors``, no colour is refused: a rendered map carries text, icons, road casings,
    anti-aliased edges and JPEG ringing that belong to no class, and each such pixel takes the class
    around it. Three steps:

    1. every pixel takes the class whose colour is nearest in CIELAB (delta E, CIE76), where JPEG's
       chroma loss and the small lightness steps between map greys are measured as the eye sees them;
    2. a pixel is *unsure* when it is farther than ``far`` from every class colour, or when fewer than
       4 of its 3x3 neighbours (itself included) share its class: a one-pixel line or speck, which is
       what an anti-aliased edge between two classes makes when its blend lies near a third colour
       (on Google maps, half road white and half ground is the building colour);
    3. unsure pixels take the most common class among the sure pixels of their 5x5 window, then 9x9
       and so on (``passes`` windows); any left keep their nearest class.

    Args:
        rgb: HxWx3 uint8 colour map.
        palette: the classes and their colours.
        far: CIELAB distance beyond which a colour matches no class.
        passes: how many growing windows the unsure pixels are filled from.
        source: how to name the map in an error message.

    Returns:
        (HxW int64 labels, counts) where counts has ``pixels``, ``far`` (beyond ``far`` of every class),
        ``thin`` (one-pixel lines and specks) and ``filled`` (unsure pixels given a neighbour's class).
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise CimgenError(
            f"{source} must be an HxWx3 uint8 RGB image, got {getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}"
        )
    if not far > 0 or passes < 0:
        raise CimgenError(f"far must be above 0 and passes 0 or more, got far {far:g} and passes {passes}")
    h, w = rgb.shape[:2]
    # Distances per distinct colour: a map has far fewer colours than pixels.
    keys = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    ukeys, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    uniq = np.stack([(ukeys >> 16) & 255, (ukeys >> 8) & 255, ukeys & 255], axis=1).astype(np.uint8)
    pal = rgb_to_lab(np.asarray(palette.colors, np.uint8))
    dist = np.linalg.norm(rgb_to_lab(uniq)[:, None, :] - pal[None], axis=2)
    nearest = dist.argmin(axis=1)
    is_far = (dist[np.arange(len(uniq)), nearest] > far)[inverse.reshape(-1)].reshape(h, w)
    labels = nearest[inverse.reshape(-1)].reshape(h, w).astype(np.int64)
    present = np.unique(labels)
    square = np.ones((3, 3), np.uint8)
    inside = np.zeros((h, w), bool)
    for c in present:  # a pixel is inside its class when some 3x3 square of that class covers it (a morphological opening)
        here = (labels == c).astype(np.uint8)
        inside |= cv2.morphologyEx(here, cv2.MORPH_OPEN, square, borderType=cv2.BORDER_REPLICATE) > 0
    thin = ~inside & ~is_far
    unsure = is_far | thin
    todo = unsure.copy()
    for k in range(passes):
        if not todo.any():
            break
        size = 5 + 4 * k
        best = np.zeros((h, w), np.float32)
        for c in present:
            votes = cv2.boxFilter(((labels == c) & ~todo).astype(np.float32), -1, (size, size), normalize=False)
            take = todo & (votes > best)
            labels[take] = c
            best = np.maximum(best, np.where(todo, votes, 0))
        todo &= best == 0
    counts = {"pixels": h * w, "far": int(is_far.sum()), "thin": int(thin.sum()), "filled": int((unsure & ~todo).sum())}
    return labels, counts


def canonical_ids(palette: Palette) -> np.ndarray:
    """For each label id, the id that its colour maps back to: the smallest id with the same colour.

    ``colors_to_labels(labels_to_colors(labels, p), p)`` equals ``canonical_ids(p)[labels]``; it is
    the identity only when every class has its own colour (not so for Cityscapes, see below).
    """
    first: dict[tuple[int, int, int], int] = {}
    for i, colour in enumerate(palette.colors):
        first.setdefault(tuple(colour), i)
    return np.array([first[tuple(c)] for c in palette.colors], dtype=np.int64)


def check_labels(labels: np.ndarray, num_classes: int, *, source: str = "label map") -> None:
    """Raise a clear error if a label map is not integer HxW with values in 0..num_classes-1."""
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise CimgenError(f"{source} must be an integer HxW array, got shape {labels.shape} and dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.max()) if labels.max() >= num_classes else int(labels.min())
        y, x = np.argwhere(labels == bad)[0]
        raise CimgenError(
            f"{source} has label {bad} at pixel (x={x}, y={y}), outside the configured {num_classes} classes (0..{num_classes - 1})"
        )


# Cityscapes label ids 0..33 with their names and colours as defined in cityscapesScripts
# (helpers/labels.py); id 34 pads the set to pix2pixHD's --label_nc 35 and never occurs in labelIds files.
# Colours are shared, as in labels.py: ids 0-4 (and the padding id 34) are all black and pole (17) and
# polegroup (18) both grey, so a colour map reads black back as 0 (unlabeled) and that grey as 17 (pole).
CITYSCAPES_PALETTE = Palette(
    names=(
        "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
        "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
        "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
        "bus", "caravan", "trailer", "train", "motorcycle", "bicycle", "unused-34",
    ),
    colors=(
        (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128),
        (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153), (180, 165, 180),
        (150, 100, 100), (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35),
        (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90),
        (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 0),
    ),
    # labels.py's categories void (but ground), object, human and vehicle: a removed car's place is filled
    # with the road, pavement, building or hedge behind it, continued row by row, never with a neighbour
    things=(
        "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "pole", "polegroup",
        "traffic light", "traffic sign", "person", "rider", "car", "truck", "bus", "caravan", "trailer", "train",
        "motorcycle", "bicycle", "unused-34",
    ),
    fill="rows",
)  # fmt: skip

# Building masks (Inria, SpaceNet): 0 background, 1 building; drawn as the masks are, black and white.
BUILDINGS_PALETTE = Palette(names=("background", "building"), colors=((0, 0, 0), (255, 255, 255)))

# Google-style map renders (the pix2pix "maps" set, the paper's Map2Sat input). Class ids 0-4 are the
# synthetic world's, so its generator takes these maps as they are snapped. Ground, road, building and
# vegetation are measured on ../shared/data/pix2pix-tf-samples/docs/maps.jpg (its map half): k-means
# (k=5) in CIELAB, then the median RGB of each cluster's pixels whose 5x5 neighbourhood is all that
# cluster (docs/data.md gives the command and the spread). The fifth cluster is the grey casing along
# road edges, not a class. That sample has no water: its colour, #AADAFF, is the one public scripts
# name for Google's water and is not measured here. It has no highways either, so there is one road class.
GOOGLE_MAPS_PALETTE = Palette(
    names=("ground", "road", "building", "water", "vegetation"),
    colors=((232, 229, 222), (254, 255, 253), (243, 240, 234), (170, 218, 255), (203, 223, 172)),
)

NAMED_PALETTES = {
    "synth": SYNTH_PALETTE,
    "cityscapes": CITYSCAPES_PALETTE,
    "buildings": BUILDINGS_PALETTE,
    "google-maps": GOOGLE_MAPS_PALETTE,
}
"""Palettes that options may name instead of giving a palette JSON file."""


def palette_from_option(value: str | Path) -> Palette:
    """A palette named in ``NAMED_PALETTES`` or read from a JSON file."""
    if str(value) in NAMED_PALETTES:
        return NAMED_PALETTES[str(value)]
    path = Path(value)
    if not path.suffix and not path.exists():
        raise CimgenError(f"unknown palette '{value}'; name one of {', '.join(NAMED_PALETTES)} or give a palette JSON file")
    return Palette.load(path)
