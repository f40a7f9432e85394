"""Forgery datasets from a manifest: one manipulation per row, run in parallel on Ray (one machine or a cluster), resumable.

A manifest (CSV or JSON Lines) lists scenes: an image, its map (or none, to make it from the
image), an edit and an output name. ``run_batch_manifest`` checks the whole manifest first (a bad
one is one sentence and nothing runs), then hands each scene that is not already done to
``runs.manipulate.run_manipulation``: in this process for one worker, else as Ray tasks, on this
machine or on a Ray cluster. Each scene's folder appears only when complete (``io.folders.new_folder``),
so a re-run skips finished scenes and redoes the rest; a scene that fails is recorded in the
manifest out with its sentence and the batch goes on. A scene's map can be a vector layer: its row's
own (with a class mapping, each mapping file parsed once for the batch) or one ``--vector`` layer
for every scene, read once per process, each GeoTIFF drawing the features that reach it.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import fcntl
import io
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cimgen.data.vector_labels import ClassMapping
from cimgen.edit.blend import BLENDS
from cimgen.errors import CimgenError
from cimgen.generators import Renderer, load_renderer
from cimgen.io.folders import new_folder
from cimgen.io.images import write_text
from cimgen.io.vector import crs_wkt
from cimgen.nn.devices import check_device
from cimgen.palette import Palette
from cimgen.runs.geodata import SharedLayer, check_vector_file, read_class_mapping, read_shared_layer
from cimgen.runs.manipulate import run_manipulation
from cimgen.runs.options import ManipulateConfig, check_manipulate_config
from cimgen.textfiles import json_text, parse_json, read_text

MANIFEST_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REQUIRED_COLUMNS = ("image", "out")
COLUMNS = ("image", "out", "map", "vector", "classes", "spec", "edits", "edited_map", "mask", "instances", "options")
"""Every column a manifest may have; paths in them are relative to the manifest's folder."""
PATH_COLUMNS = ("image", "map", "vector", "classes", "spec", "edited_map", "mask", "instances")
EDIT_COLUMNS = ("spec", "edits", "edited_map")
"""Each scene gives its edit with exactly one of these."""
EDIT_PATH_KEYS = ("mask", "source", "source_instances")
"""Keys of inline edits that name files (taken relative to the manifest's folder, as in a spec file)."""
OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "radius": (int,),
    "blend": (str,),
    "feather": (int, float),
    "seam_cut": (int,),
    "color_tolerance": (int, float),
    "finetune": (bool,),
    "finetune_steps": (int,),
    "finetune_crop": (int,),
    "match_jpeg": (bool,),
    "shadows": (str,),
    "tile_size": (int, type(None)),
    "overlap": (int,),
    "map_from": (str,),
    "map_from_direction": (str,),
    "vector_crs": (str,),
}
"""The ``options`` a scene may set (``ManipulateConfig`` fields) and the JSON types each takes."""

BATCH_RECORD = "batch.json"
"""In the batch folder: what the batch was made with, so a re-run resumes only a batch of the same generator."""
SCENE_RECORD = "batch_row.json"
"""In each scene's folder: its manifest-out row and the options it was made with; written inside the atomic folder."""
MANIFEST_OUT = "manifest_out.csv"
MANIFEST_OUT_JSONL = "manifest_out.jsonl"
LOCK = ".batch.lock"
SCENE_LOCKS = ".locks"
"""Folder of the batch holding one lock file per scene being made."""
RESERVED = {BATCH_RECORD, MANIFEST_OUT, MANIFEST_OUT_JSONL}
OUT_FIELDS = (
    "out", "status", "error", "image", "folder", "result", "mask_area_pixels", "mask_area_fraction", "changed_label_pixels",
    "ssim_outside_mask", "seam", "outside_mask_identical", "tiles_generated", "seconds", "worker", "line",
)  # fmt: skip
"""Columns of the manifest out. status: ``ok`` (made by this run), ``done`` (made by an earlier run, skipped), ``failed``."""
OK, DONE, FAILED = "ok", "done", "failed"
DEFAULT_RETRIES = 2
"""How often Ray reruns a scene whose worker process died (a crash, the out-of-memory killer, a lost node)."""
OUT_HINT = "choose another --out folder"
ENGINES = ("auto", "ray", "process")


@dataclass(frozen=True)
class Scene:
    """One row of a manifest, checked: the manipulation to run and where its folder goes."""

    name: str
    """Its output name: the folder ``out/<name>/``."""
    line: int
    """Its line in the manifest, for messages."""
    config: ManipulateConfig
    """The options of its ``run_manipulation`` (paths absolute; ``out`` is the scene's folder)."""
    edits: list | None
    """Inline edits (a spec list), when the row gives ``edits`` rather than a spec file or an edited map."""
    mapping: ClassMapping | None = None
    """``config.classes`` parsed (``with_mappings``: once per file for the whole batch), shipped to the worker with the scene."""
    shared_layer: bool = False
    """``config.vector`` is the batch's ``--vector`` layer: read once per process, the scene draws the features that reach it."""


@dataclass
class BatchResult:
    """What a batch run made."""

    out: Path
    """The batch folder."""
    manifest_out: Path
    """Its ``manifest_out.csv`` (``manifest_out.jsonl`` beside it)."""
    rows: list[dict]
    """One row per scene of the manifest, in its order."""

    def count(self, status: str) -> int:
        """How many rows have this status."""
        return sum(r["status"] == status for r in self.rows)


# ----------------------------------------------------------------------------------------------
# The manifest in


def read_manifest(path: str | Path, base: ManipulateConfig, *, classes: str = "", vector_crs: str = "", vector: str = "") -> list[Scene]:
    """Read and check a manifest; one sentence for the first problem, so that nothing runs on a bad one.

    Args:
        path: a ``.csv`` file with a header row, or a ``.jsonl`` file of one JSON object a line.
        base: the options every scene shares (checkpoint, palette, direction, device; ``out`` = the batch folder).
        classes: the class mapping of rows that give a ``vector`` and no ``classes`` (``--classes``), and of ``vector``.
        vector_crs: the CRS of the layers' coordinates for rows whose options give no ``vector_crs`` (``--vector-crs``).
        vector: one layer for every scene (``--vector``; needs ``classes``): no row may give its own map, vector or classes.
    """
    path = Path(path)
    kind = MANIFEST_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise CimgenError(f"manifest {path} must be a .csv or a .jsonl file (one JSON object a line)")
    text = read_text(path, "manifest")
    raw = _csv_rows(text, path) if kind == "csv" else _jsonl_rows(text, path)
    if not raw:
        raise CimgenError(f"manifest {path} lists no scenes")
    absolute = {k: str(Path(v).absolute()) if v else "" for k, v in (("classes", classes), ("vector", vector))}
    layers = VectorDefaults(vector_crs=vector_crs, **absolute)
    scenes = [_scene(row, line, path, base, layers) for line, row in raw]
    seen: dict[str, int] = {}
    for s in scenes:
        key = s.name.casefold()  # two names one case-insensitive file system would merge count as one
        if key in seen:
            raise CimgenError(f"manifest {path}: the out name '{s.name}' is on lines {seen[key]} and {s.line}; each scene needs its own")
        seen[key] = s.line
    return scenes


def _check_columns(columns: list[str], path: Path) -> None:
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], COLUMNS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; the columns are {', '.join(COLUMNS)}"
        raise CimgenError(f"manifest {path} has an unknown column '{unknown[0]}'{hint}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CimgenError(f"manifest {path} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")


def _csv_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    try:
        header = reader.fieldnames
        if not header:
            raise CimgenError(f"manifest {path} is empty; its first line names the columns, e.g. image,map,spec,out")
        header = [h.strip() for h in header]
        if len(set(header)) < len(header):
            dup = next(h for h in header if header.count(h) > 1)
            raise CimgenError(f"manifest {path} names the column '{dup}' twice")
        _check_columns(header, path)
        rows = []
        for row in reader:
            if "\0extra" in row:
                raise CimgenError(f"manifest {path} line {reader.line_num} has more fields than the header names")
            if any(v is None for v in row.values()):
                raise CimgenError(f"manifest {path} line {reader.line_num} has fewer fields than the header names")
            rows.append((reader.line_num, {k.strip(): v.strip() for k, v in row.items()}))
    except csv.Error as e:
        raise CimgenError(f"manifest {path} line {reader.line_num} is not valid CSV ({e})") from None
    return rows


def _jsonl_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        value = parse_json(line, f"manifest {path} line {number}")
        if not isinstance(value, dict):
            raise CimgenError(f"manifest {path} line {number} is not a JSON object")
        _check_columns(list(value), path)
        rows.append((number, value))
    return rows


def _text(value: Any, column: str, where: str) -> str:
    """A path or name cell: a string (None and '' alike mean absent)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CimgenError(f"{where}: {column} must be a string, got {json.dumps(value)}")
    return value.strip()


def _json_cell(value: Any, column: str, where: str, kind: type) -> Any:
    """A cell holding JSON: already parsed in a JSON Lines manifest, JSON text in a CSV one."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_json(value, f"{where}: the {column} column")
    if not isinstance(value, kind):
        want = "a JSON object" if kind is dict else "a JSON list of edits"
        raise CimgenError(f"{where}: {column} must be {want}")
    return value


def check_out_name(name: str, where: str) -> None:
    """One sentence unless ``name`` is a plain folder name that cannot collide with the batch's own files."""
    if not name:
        raise CimgenError(f"{where}: out is empty; name the scene's output folder")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".") or "\0" in name:
        raise CimgenError(f"{where}: out '{name}' must be a plain folder name (no slashes, not starting with a dot)")
    if name in RESERVED or len(name.encode()) > 200:
        raise CimgenError(f"{where}: out '{name}' cannot be used: it is {'a name the batch writes' if name in RESERVED else 'too long'}")


@dataclass(frozen=True)
class VectorDefaults:
    """What the batch's options say about vector layers (absolute paths, or '')."""

    classes: str = ""
    """``--classes``: the mapping of rows with a ``vector`` and no ``classes``, and of the shared layer."""
    vector_crs: str = ""
    """``--vector-crs``: for rows whose options give no ``vector_crs``."""
    vector: str = ""
    """``--vector``: one layer shared by every scene."""


def _scene(row: dict, line: int, path: Path, base: ManipulateConfig, layers: VectorDefaults = VectorDefaults()) -> Scene:
    where = f"manifest {path} line {line}"
    cells = {c: _text(row.get(c), c, where) for c in (*PATH_COLUMNS, "out")}
    name = cells["out"]
    check_out_name(name, where)
    if not cells["image"]:
        raise CimgenError(f"{where}: image is empty")
    edits = _json_cell(row.get("edits"), "edits", where, list)
    given = [c for c in EDIT_COLUMNS if (edits if c == "edits" else cells[c])]
    if len(given) != 1:
        said = f"; it gives {' and '.join(given)}" if given else ""
        raise CimgenError(f"{where}: give the edit with exactly one of spec, edits or edited_map{said}")
    options = dict(_json_cell(row.get("options"), "options", where, dict) or {})
    if sum(bool(x) for x in (cells["map"], cells["vector"], options.get("map_from"))) > 1:
        raise CimgenError(f"{where}: give the scene's map, its vector file or a map_from option, not two of them")
    for key, value in options.items():
        if key not in OPTION_TYPES:
            close = difflib.get_close_matches(key, OPTION_TYPES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; the options are {', '.join(OPTION_TYPES)}"
            raise CimgenError(f"{where}: unknown option '{key}'{hint}")
        types = OPTION_TYPES[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise CimgenError(f"{where}: option {key} must be {' or '.join(_type_name(t) for t in types)}, got {json.dumps(value)}")
    root = path.parent
    resolved = {c: str((root / cells[c]).absolute()) if cells[c] else "" for c in PATH_COLUMNS}
    if options.get("map_from"):
        options = {**options, "map_from": str((root / options["map_from"]).absolute())}
    resolved.update(_vector_cells(cells, options, layers, where))
    options.pop("vector_crs", None)  # now in resolved, with the batch's default
    cfg = replace(base, out=str(Path(base.out) / name), **resolved, **options)
    try:
        check_manipulate_config(cfg)
        if cfg.blend not in BLENDS:
            raise CimgenError(f"unknown blend mode '{cfg.blend}'; choose one of {', '.join(BLENDS)}")
    except CimgenError as e:
        raise CimgenError(f"{where}: {e}") from None
    if edits is not None:
        edits = [_edit_paths(e, root) for e in edits]
    return Scene(name, line, cfg, edits, shared_layer=bool(layers.vector))


def _vector_cells(cells: dict, options: dict, layers: VectorDefaults, where: str) -> dict:
    """A row's vector, classes and vector_crs after the batch's defaults; one sentence for a row that cannot have them."""
    if layers.vector:
        own = [c for c in ("vector", "classes", "map", "edited_map") if cells[c]] + (["map_from"] if options.get("map_from") else [])
        if own:
            raise CimgenError(
                f"{where}: the batch's --vector layer draws every scene's map, so the row cannot give its own {own[0]}; "
                "leave it out, or make this scene in a batch without --vector"
            )
        return {"vector": layers.vector, "classes": layers.classes, "vector_crs": options.get("vector_crs") or layers.vector_crs}
    if not cells["vector"]:
        if cells["classes"] or options.get("vector_crs"):
            raise CimgenError(f"{where}: classes and the vector_crs option describe a vector layer, and the row gives no vector")
        return {}
    if cells["edited_map"]:
        raise CimgenError(f"{where}: a vector row edits the map drawn from its layer; give the edit with spec or edits, not edited_map")
    if not (cells["classes"] or layers.classes):
        raise CimgenError(
            f"{where}: the vector file {cells['vector']} needs a class mapping; give the row a classes file, "
            "or the batch --classes MAPPING.yaml for every vector row without one (see docs/geodata.md)"
        )
    default = {} if cells["classes"] else {"classes": layers.classes}  # a row's own classes is resolved with its other paths
    return {**default, "vector_crs": options.get("vector_crs") or layers.vector_crs}


def _type_name(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}[t]


def _edit_paths(edit: Any, root: Path) -> Any:
    """An inline edit with the files it names taken relative to the manifest's folder (as a spec file's are to its own)."""
    if not isinstance(edit, dict):
        return edit  # parse_edits says what is wrong with it
    return {k: str((root / v).absolute()) if k in EDIT_PATH_KEYS and isinstance(v, str) else v for k, v in edit.items()}


def missing_input(scene: Scene) -> str:
    """The sentence for the first input file of a scene that does not exist ('' when all do)."""
    cfg = scene.config
    for column in (*PATH_COLUMNS, "map_from"):
        value = getattr(cfg, column, "")
        if value and not Path(value).exists():
            return f"{column} {value} does not exist"
    return ""


def with_mappings(scenes: list[Scene], palette: Palette, manifest: str | Path) -> list[Scene]:
    """The scenes with their class mappings parsed against the generator's classes: each file once, however many rows
    name it; and each vector_crs checked once. One sentence, naming the first line that uses it, for a file that cannot
    be read or parsed, so nothing runs on a bad mapping."""
    parsed: dict[str, ClassMapping] = {}
    crs_checked: set[str] = set()
    out = []
    for s in scenes:
        cfg = s.config
        try:
            if cfg.classes and cfg.classes not in parsed:
                parsed[cfg.classes] = read_class_mapping(Path(cfg.classes), palette)
            if cfg.vector_crs and cfg.vector_crs.lower() != "image" and cfg.vector_crs not in crs_checked:
                crs_wkt(cfg.vector_crs)
                crs_checked.add(cfg.vector_crs)
        except CimgenError as e:
            raise CimgenError(f"manifest {manifest} line {s.line}: {e}") from None
        out.append(replace(s, mapping=parsed[cfg.classes]) if cfg.classes else s)
    return out


def vector_problem(scene: Scene, checked: dict[tuple[str, str], str]) -> str:
    """Why a scene's own vector file cannot be drawn with its mapping ('' when it can); each (file, mapping) checked once.

    Only the file's header is read (readable, some features, every attribute the mapping names). The batch's shared
    ``--vector`` layer is read whole, once, before (``read_shared_layer``).
    """
    cfg = scene.config
    if not cfg.vector or scene.shared_layer or scene.mapping is None:
        return ""
    key = (cfg.vector, cfg.classes)
    if key not in checked:
        try:
            check_vector_file(Path(cfg.vector), Path(cfg.classes), scene.mapping)
            checked[key] = ""
        except CimgenError as e:
            checked[key] = str(e)
    return checked[key]


# ----------------------------------------------------------------------------------------------
# One scene (what each worker runs)

_RENDERER: dict[tuple, Renderer] = {}
"""The generator this process last loaded, by (checkpoint, palette, direction, device): loaded once per worker process."""


def cached_renderer(cfg: ManipulateConfig) -> Renderer:
    """The generator of ``cfg``, loaded once per process (a new checkpoint replaces the old one, so one is held at a time)."""
    key = (cfg.checkpoint, cfg.palette, cfg.direction, cfg.device)
    if key not in _RENDERER:
        _RENDERER.clear()
        _RENDERER[key] = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    return _RENDERER[key]


_LAYER: dict[tuple, SharedLayer] = {}
"""The shared ``--vector`` layer this process last read: read once per worker process (and once by the driver)."""


def cached_layer(scene: Scene, palette: Palette) -> SharedLayer:
    """The batch's ``--vector`` layer with the scene's mapping, read once per process (re-read when the file changed).

    Ray workers read it from its path rather than receive it with each task: a city's layer is large, and each worker
    keeps it for all its scenes, as it keeps the generator.
    """
    cfg = scene.config
    try:
        stat = Path(cfg.vector).stat()
        version = (stat.st_mtime_ns, stat.st_size)
    except OSError:  # reading it says why
        version = None
    key = (cfg.vector, version, cfg.classes, json_text(scene.mapping.to_dict()), tuple(palette.names))
    if key not in _LAYER:
        _LAYER.clear()
        _LAYER[key] = read_shared_layer(Path(cfg.vector), Path(cfg.classes), palette, mapping=scene.mapping)
    return _LAYER[key]


def worker_name() -> str:
    """host:pid of this process, as the manifest out names the worker of each scene."""
    return f"{socket.gethostname()}:{os.getpid()}"


def scene_options(scene: Scene) -> dict:
    """The options that decide a scene's pixels (the device does not), as recorded in its folder and compared on a re-run.

    A scene with a vector layer also records its class mapping as parsed (``classes_mapping``), so a mapping file
    changed in place since the scene was made counts as another input.
    """
    d = asdict(scene.config)
    d.pop("device")
    if scene.mapping is not None:
        d["classes_mapping"] = json.loads(json_text(scene.mapping.to_dict()))
    return d


def finished_row(scene: Scene) -> dict | None:
    """The row of a scene whose folder is complete (made by this batch), None when it has no folder yet.

    A folder that this batch did not make, or made from other options, is a failed row saying so.
    """
    folder = Path(scene.config.out)
    if not folder.exists():
        return None
    base = {"out": scene.name, "image": scene.config.image, "line": scene.line}
    record = folder / SCENE_RECORD
    try:
        saved = json.loads(record.read_text())
        row, options = saved["row"], saved["options"]
    except (OSError, ValueError, KeyError, TypeError):
        return {**base, "status": FAILED, "error": f"{folder} exists but was not made by cimgen batch; move it away to make the scene"}
    if options != scene_options(scene):
        return {
            **base,
            "status": FAILED,
            "error": f"{folder} was made from other inputs or options than line {scene.line} gives; move it away to make the scene again",
        }
    return {**row, **base, "status": DONE}


def run_scene(scene: Scene, threads: int) -> dict:
    """Manipulate one scene into its folder (complete or absent) and return its manifest-out row; never raises for a scene.

    Runs in a Ray worker (or in this process for one worker). A scene is made once: its worker
    holds the scene's lock file while it checks for the finished folder and makes it, so a rerun
    of the task (Ray reruns a task whose worker died, maybe just after the folder was renamed into
    place) or a worker left running by a killed driver, racing a re-run, finds it done.
    """
    t0 = time.perf_counter()
    row = {"out": scene.name, "image": scene.config.image, "line": scene.line, "worker": worker_name()}
    try:
        with scene_lock(scene) as lock:
            done = finished_row(scene)
            if done is not None:
                return done
            torch.set_num_threads(threads)
            renderer = cached_renderer(scene.config)
            layer = cached_layer(scene, renderer.palette) if scene.shared_layer else None
            folder = Path(scene.config.out)
            # The scene's folder is built under a temporary name; run_manipulation writes into that (empty) folder, the
            # record goes beside its files, and only then does the folder take its name: it exists only when complete.
            with new_folder(folder, OUT_HINT) as tmp:
                run = run_manipulation(
                    replace(scene.config, out=str(tmp)),
                    scene.edits,
                    renderer=renderer,
                    mapping=scene.mapping,
                    layer=layer,
                    echo=None,
                    progress=False,
                )
                row.update(_metrics_row(run.metrics, folder, tmp))
                row.update(status=OK, error="", folder=str(folder), seconds=round(time.perf_counter() - t0, 2))
                write_text(tmp / SCENE_RECORD, json_text({"row": row, "options": scene_options(scene)}))
            # Done: the lock file goes (whoever waits on it finds the folder); a failed scene's stays for its next try.
            lock.unlink(missing_ok=True)
        return row
    except CimgenError as e:
        return {**row, "status": FAILED, "error": str(e), "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as e:  # noqa: BLE001 - one scene's unexpected error is recorded; the batch goes on
        return {**row, "status": FAILED, "error": f"{type(e).__name__}: {e}", "seconds": round(time.perf_counter() - t0, 2)}


@contextlib.contextmanager
def scene_lock(scene: Scene) -> Iterator[Path]:
    """Hold ``<batch>/.locks/<name>`` (waiting for whoever holds it) while a scene is checked and made; yields its path."""
    path = Path(scene.config.out).parent / SCENE_LOCKS / scene.name
    path.parent.mkdir(exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _metrics_row(metrics: dict, folder: Path, tmp: Path) -> dict:
    result = "result.tif" if (tmp / "result.tif").exists() else "result.png"
    return {
        "result": str(folder / result),
        "mask_area_pixels": metrics["mask_area_pixels"],
        "mask_area_fraction": metrics["mask_area_fraction"],
        "changed_label_pixels": metrics["changed_label_pixels"],
        "ssim_outside_mask": metrics["ssim_outside_mask"],
        "seam": metrics["seam"]["seam"],
        "outside_mask_identical": metrics["outside_mask_identical"],
        "tiles_generated": metrics.get("tiles_generated", ""),
    }


# ----------------------------------------------------------------------------------------------
# Engines: this process, or Ray (one machine or a cluster)


def inline_rows(scenes: list[Scene], threads: int) -> Iterator[dict]:
    """Each scene in this process, one after another, with torch limited to ``threads`` (restored afterwards)."""
    before = torch.get_num_threads()
    try:
        for scene in scenes:
            yield run_scene(scene, threads)
    finally:
        torch.set_num_threads(before)


def ray_rows(
    scenes: list[Scene], *, workers: int | None, threads: int, retries: int, address: str, gpu: bool, announce: Callable[[str], None]
) -> Iterator[dict]:
    """Each scene as a Ray task, at most ``workers`` at once, each reserving ``threads`` CPUs; rows as they finish.

    Ray places tasks where their CPUs are free (so no node runs more than its cores allow), reruns
    a task whose worker process died up to ``retries`` times, and cancels what is left when this
    driver stops. A Ray instance already connected in this process is used as it is.
    """
    try:
        import ray
        from ray.exceptions import NodeDiedError, OutOfMemoryError, RayError, WorkerCrashedError
    except ImportError:
        raise CimgenError("more than one worker needs Ray: pip install 'cimgen[batch]' (or run with --workers 1)") from None
    lost = (WorkerCrashedError, NodeDiedError, OutOfMemoryError)
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, logging_level="warning")
            else:
                ray.init(include_dashboard=False, logging_level="warning")  # Ray counts the CPUs (container limits too)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise CimgenError(f"could not start or reach {where}: {' '.join(str(e).split())[:300]}") from None
    try:
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 0))
        if threads > cpus:
            raise CimgenError(f"--threads {threads} is more than the {cpus} CPUs the Ray engine has; no scene could start")
        if gpu and not resources.get("GPU"):
            raise CimgenError("--device cuda was asked for but the Ray engine has no GPU")
        workers = workers or max(1, cpus // threads)
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        announce(f"engine: Ray, {nodes} node{'s' * (nodes != 1)}, {cpus} CPUs; {workers} worker(s) x {threads} thread(s)")
        task = ray.remote(run_scene).options(num_cpus=threads, num_gpus=1 if gpu else 0, max_retries=retries)
        todo = iter(scenes)
        pending: dict = {}
        while True:
            while len(pending) < workers:
                scene = next(todo, None)
                if scene is None:
                    break
                pending[task.remote(scene, threads)] = scene
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                scene = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except RayError as e:
                    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
                    if isinstance(e, lost):  # the worker process died more often than Ray retries, or its node was lost
                        why = f"the worker running it was lost {retries + 1} time(s) ({type(e).__name__}: {first})"
                    else:
                        why = f"Ray could not run it ({type(e).__name__}: {first})"
                    yield {"out": scene.name, "image": scene.config.image, "line": scene.line, "status": FAILED, "error": why}
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------------------------
# The batch


@contextlib.contextmanager
def batch_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.batch.lock`` for the run, so two batches never write into one folder at once."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CimgenError(f"another cimgen batch is writing into {out}; wait for it, or {OUT_HINT}") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_batch_folder(out: Path, record: dict) -> None:
    """A new or empty folder becomes a batch folder; an existing batch folder resumes only with the same generator."""
    path = out / BATCH_RECORD
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            raise CimgenError(f"{path} cannot be read; {OUT_HINT}") from None
        for key in ("checkpoint", "palette", "direction"):
            if saved.get(key) != record[key]:
                raise CimgenError(
                    f"{out} is a batch made with {key} '{saved.get(key)}', not '{record[key]}'; resume it with the same one, or {OUT_HINT}"
                )
        return
    if out.exists() and any(p.name not in (LOCK, SCENE_LOCKS) for p in out.iterdir()):
        raise CimgenError(f"{out} already holds files that no cimgen batch wrote; {OUT_HINT}")
    write_text(path, json_text(record))


def remove_leftovers(out: Path, names: set[str]) -> int:
    """Remove the temporary folders (``.<name>.XXXX``, nested too) of scenes whose worker was killed mid-write; how many.

    A scene whose lock is held is being made right now (by a worker of a killed driver that is still
    finishing): its folder is left to it.
    """
    removed = 0
    for p in out.iterdir():
        if not (p.name.startswith(".") and p.name not in (LOCK, SCENE_LOCKS) and p.is_dir()):
            continue
        stem = p.name
        while stem.startswith(".") and "." in stem[1:]:
            stem = stem[1 : stem.rfind(".")]
        if stem not in names:
            continue
        (out / SCENE_LOCKS).mkdir(exist_ok=True)
        with open(out / SCENE_LOCKS / stem, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
            fcntl.flock(f, fcntl.LOCK_UN)
    return removed


def run_batch_manifest(
    manifest: str | Path,
    out: str | Path,
    *,
    checkpoint: str | Path,
    palette: str = "",
    direction: str = "",
    device: str = "cpu",
    vector: str | Path = "",
    classes: str | Path = "",
    vector_crs: str = "",
    workers: int | None = None,
    threads: int = 1,
    address: str = "",
    retries: int = DEFAULT_RETRIES,
    engine: str = "auto",
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> BatchResult:
    """Make the scenes of a manifest into ``out/<name>/`` folders, skipping those already made; write the manifest out.

    Args:
        manifest: the scenes (CSV or JSON Lines; see docs/batch.md).
        out: the batch folder; a re-run with the same folder resumes it.
        checkpoint: the generator every scene uses (its path must be the same on every machine of a cluster).
        palette: classes for a CycleGAN/pix2pix generator (as ``cimgen manipulate --palette``).
        direction: map -> image direction of a CycleGAN/pix2pix generator.
        device: where each worker runs the generator (cpu or cuda).
        vector: one vector layer for every scene (each a GeoTIFF drawing the features that reach it); needs ``classes``.
        classes: the class mapping of ``vector``, and of every row that gives a ``vector`` and no ``classes``.
        vector_crs: the CRS of the layers' coordinates (as ``--vector-crs``) for rows whose options give none.
        workers: scenes run at once; 1 without ``address`` runs them in this process; None: the engine's CPUs / threads.
        threads: torch threads of each worker (also the CPUs each Ray task reserves); pixels can depend on it.
        address: a Ray cluster (``auto``, ``host:port`` or ``ray://host:10001``); empty: a local Ray instance.
        retries: how often Ray reruns a scene whose worker process died.
        engine: ``auto`` (this process for 1 worker without ``address``, else Ray), ``ray`` or ``process`` (1 worker only).
        echo: where the progress lines go (one per finished scene and a last one naming the manifest out).
        progress: print a line per finished scene (the first and last lines are printed regardless).

    Returns:
        The folder, the manifest out and its rows; raises ``CimgenError`` (after writing the manifest out) when no scene succeeded.
    """
    say = echo or (lambda line: None)
    if workers is not None and workers < 1:
        raise CimgenError(f"--workers must be at least 1, got {workers}")
    if threads < 1:
        raise CimgenError(f"--threads must be at least 1, got {threads}")
    if retries < 0:
        raise CimgenError(f"--retries must be at least 0, got {retries}")
    out = Path(out).absolute()
    base = ManipulateConfig(checkpoint=str(Path(checkpoint).absolute()), out=str(out), palette=palette, direction=direction, device=device)
    if engine not in ENGINES:
        raise CimgenError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    if engine == "process" and (address or workers != 1):
        raise CimgenError("the process engine runs one worker in this process; give workers=1 and no address")
    inline = engine == "process" or (engine == "auto" and workers == 1 and not address)
    if inline:  # Ray workers check the device on their own machine
        base = replace(base, device=check_device(device))
    if vector and not classes:
        raise CimgenError("--vector needs --classes, the YAML mapping from attributes to classes (see docs/geodata.md)")
    scenes = read_manifest(manifest, base, classes=str(classes), vector_crs=vector_crs, vector=str(vector))
    # The generator is read here once, so that a wrong checkpoint, palette or direction is one sentence before any scene
    # runs; one worker in this process keeps it (cached_renderer), Ray workers read it again, once each.
    if inline:
        generator_palette = cached_renderer(base).palette
    else:
        generator_palette = load_renderer(base.checkpoint, palette=palette, direction=direction, device="cpu").palette
    # Class mappings are parsed once per file, and the shared layer read once, before any scene runs; a bad one is one
    # sentence. This process keeps the layer for its own scenes; Ray workers read it again from its path, once each.
    scenes = with_mappings(scenes, generator_palette, manifest)
    if vector:
        cached_layer(scenes[0], generator_palette)
        if not inline:
            _LAYER.clear()
    record = {"checkpoint": base.checkpoint, "palette": palette, "direction": direction, "manifest": str(Path(manifest).absolute())}
    checked: dict[tuple[str, str], str] = {}
    if out.exists() and not out.is_dir():
        raise CimgenError(f"{out} is a file; {OUT_HINT}")
    created = not out.exists()
    with batch_lock(out):
        check_batch_folder(out, record)
        remove_leftovers(out, {s.name for s in scenes})
        rows: dict[str, dict] = {}
        todo: list[Scene] = []
        for s in scenes:
            row = finished_row(s)
            if row is None and (reason := missing_input(s) or vector_problem(s, checked)):
                row = {"out": s.name, "image": s.config.image, "line": s.line, "status": FAILED, "error": reason}
            if row is None:
                todo.append(s)
            else:
                rows[s.name] = row
        done = sum(r["status"] == DONE for r in rows.values())
        say(f"batch of {len(scenes)} scenes -> {out}: {done} already done (skipped), {len(rows) - done} cannot start, {len(todo)} to make")
        for r in rows.values():
            if r["status"] == FAILED and progress:
                say(f"{r['out']}: failed: {r['error']}")
        if todo:
            stream = (
                inline_rows(todo, threads)
                if inline
                else ray_rows(
                    todo, workers=workers, threads=threads, retries=retries, address=address, gpu=device.startswith("cuda"), announce=say
                )
            )
            try:
                for n, row in enumerate(stream, 1):
                    rows[row["out"]] = row
                    if progress:
                        say(f"[{n}/{len(todo)}] {scene_line(row)}")
            except CimgenError:  # the engine could not start: a batch folder this run made, still without a scene, goes
                if created and not any(r["status"] == OK for r in rows.values()):
                    shutil.rmtree(out, ignore_errors=True)
                raise
        ordered = [rows[s.name] for s in scenes]
        write_text(out / MANIFEST_OUT, manifest_csv(ordered))
        write_text(out / MANIFEST_OUT_JSONL, "".join(json_text(r, indent=None) + "\n" for r in ordered))
    result = BatchResult(out, out / MANIFEST_OUT, ordered)
    made, failed = result.count(OK), result.count(FAILED)
    say(
        f"{len(ordered)} scenes: {made} made now, {result.count(DONE)} done earlier, {failed} failed"
        + (" (reasons in the manifest out; a re-run retries them)" if failed else "")
        + f"; manifest out: {result.manifest_out}"
    )
    if failed == len(ordered):
        first = ordered[0]
        raise CimgenError(f"no scene could be made; the first reason (line {first['line']}): {first['error']}")
    return result


def scene_line(row: dict) -> str:
    """The progress line of one finished scene."""
    if row["status"] == FAILED:
        return f"{row['out']}: failed: {row['error']}"
    ssim = row.get("ssim_outside_mask")
    return (
        f"{row['out']}: {row['status']} in {row.get('seconds', '?')} s on {row.get('worker', '?')}; "
        f"mask {row.get('mask_area_pixels')} px, SSIM outside {'n/a' if ssim is None else f'{ssim:.3f}'} -> {row.get('folder')}"
    )


def manifest_csv(rows: list[dict]) -> str:
    """The manifest-out rows as CSV text, in ``OUT_FIELDS`` order."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(OUT_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in OUT_FIELDS})
    return buf.getvalue()
