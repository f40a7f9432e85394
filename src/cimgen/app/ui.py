"""The web editor's page (gradio): paint the map, run the manipulation, see the detector's heatmap, spot the fake.

Every button calls the library (``cimgen.app.session``, ``cimgen.edit``, ``cimgen.forensics``);
this module only lays out the page and turns errors into messages in it. A ``CimgenError``
becomes the sentence it carries; anything else is logged on the server with its traceback
and shown as one line, and the server goes on.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cimgen.app.session import (
    EditSession,
    Limits,
    RunOptions,
    example_names,
    example_scene,
    new_job_folder,
    run_edit,
    upload_scene,
)
from cimgen.edit.spec import parse_box, parse_polygon
from cimgen.errors import CimgenError
from cimgen.forensics.heatmap import overlay
from cimgen.forensics.study import record_answer, score_answer, study_items
from cimgen.forensics.train import load_detector
from cimgen.generators import Renderer, load_renderer, shipped_checkpoint
from cimgen.io.checkpoints import read_config
from cimgen.io.images import read_image
from cimgen.kinds import IMAGE, KINDS
from cimgen.palette import Palette, labels_to_colors
from cimgen.runs.detect import image_scores
from cimgen.runs.edit import palette_of, stored_palette
from cimgen.runs.manipulate import ManipulationRun
from cimgen.runs.options import (
    DEFAULT_BLEND,
    DEFAULT_FEATHER,
    DEFAULT_RADIUS,
    DEFAULT_SHADOWS,
    MEMORISE_MAX_STEPS,
    MEMORISE_STEPS,
    SHADOW_CHOICES,
)

# gradio reports usage to its makers unless told not to; cimgen runs offline and sends nothing.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # after the environment switch above
from gradio import processing_utils as pu

log = logging.getLogger("cimgen.app")


def _atomic_picture_cache() -> None:
    """Make gradio's output-picture cache safe under concurrent identical outputs.

    gradio 6.31 writes each output picture to ``<cache>/<hash of its bytes>/image.png`` with
    ``Path.write_bytes``, in place. When two requests produce the same picture at once (two
    users loading the same example), one request can be serving the file while the other
    truncates and rewrites it, and the browser receives a short file (uvicorn: "Too little
    data for declared Content-Length"). The path is content-addressed, so a whole file already
    there needs no rewrite, and writing under a temporary name and renaming makes every
    reader see a whole file. Measured: 1-2 of 100 concurrent clients failed this way without
    it, none with it (tests/app/test_e2e.py).
    """
    if getattr(pu.save_pil_to_cache, "cimgen_atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if not (path.is_file() and path.stat().st_size == len(data)):
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return str(path)

    save_pil_to_cache.cimgen_atomic = True
    pu.save_pil_to_cache = save_pil_to_cache


_atomic_picture_cache()

BLEND_MODES = ("feather", "laplacian", "poisson", "poisson-mixed", "hard")
BASELINES = {"noise inconsistency (no training)": "noise", "error level analysis (no training)": "ela"}
NO_DETECTOR = "none"
TOOL_REMOVE = "remove the object under a click"
TOOL_BOX = "set the box by two clicks"
TOOL_POLYGON = "add a polygon point per click"
STUDY_ANSWERS = {"Pristine": "pristine", "Manipulated": "manipulated"}
SHOWN_METRICS = ("ssim_outside_mask", "mask_area_fraction", "changed_label_pixels", "outside_mask_identical", "seconds")
"""The run's metrics the page shows (all of them are in the run's metrics.json)."""


@dataclass(frozen=True)
class AppConfig:
    """Options of ``cimgen app``."""

    workdir: str = "runs/app"
    """Folder for runs, saved edit specs and study answers."""
    checkpoints: tuple[str, ...] = ()
    """Generator checkpoints offered besides the bundled synthetic-world generator."""
    detectors: tuple[str, ...] = ()
    """Detector checkpoints offered for heatmaps (the two classical baselines are always offered)."""
    studies: tuple[str, ...] = ()
    """Study folders offered in "Spot the fake" (folders under the workdir with pristine/ are found too)."""
    palette: str = ""
    """Palette for CycleGAN/pix2pix generators (JSON file or synth|cityscapes|buildings)."""
    direction: str = ""
    """map -> image direction of CycleGAN/pix2pix generators."""
    limits: Limits = field(default_factory=Limits)
    """Upload limits."""
    device: str = "cpu"
    """Where generators and detectors run."""
    concurrency: int = 2
    """Runs computed at once; further requests wait in the queue."""


# ----------------------------------------------------------------------------------------------
# Helpers


def _message(text: str, kind: str = "ok") -> str:
    """The status line under the canvas: plain for news, marked for errors."""
    return f"**Error:** {text}" if kind == "error" else text


def guarded(n_outputs: int):
    """Wrap a callback so errors become a message in the page (the last output) and the other outputs stay."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except CimgenError as e:
                msg = str(e)
            except gr.Error:
                raise
            except Exception as e:  # keep serving; the traceback goes to the server log
                log.exception("cimgen app: %s failed", fn.__name__)
                msg = f"internal error in {fn.__name__}: {e.__class__.__name__}: {e} (details in the server log)"
            gr.Warning(msg)
            return (*[gr.skip()] * (n_outputs - 1), _message(msg, "error"))

        return inner

    return wrap


@functools.lru_cache(maxsize=8)
def _renderer(checkpoint: str, palette: str, direction: str, device: str) -> Renderer:
    """A generator, loaded once and kept for the page's runs and map-from-image uploads (fine-tuned ones are not kept)."""
    return load_renderer(checkpoint, palette=palette, direction=direction, device=device)


@functools.lru_cache(maxsize=16)
def _palette_for(cfg: AppConfig, checkpoint: str) -> Palette:
    """The classes a generator draws from (read from its checkpoint's config once, then remembered)."""
    config = read_config(checkpoint)
    if cfg.palette:
        return palette_of(cfg.palette)
    kind = KINDS.get(config.get("model"))
    if kind is not None and kind.takes == IMAGE:
        raise CimgenError("a CycleGAN/pix2pix generator draws from colour maps; start the app with --palette")
    return stored_palette(config, checkpoint)


def _legend(palette: Palette) -> str:
    chips = "".join(
        f'<span class="cimgen-chip" title="class {i}"><span style="background: rgb({c[0]},{c[1]},{c[2]})"></span>{name}</span>'
        for i, (name, c) in enumerate(zip(palette.names, palette.colors, strict=True))
    )
    return f'<div class="cimgen-legend">Brush colours are the classes: {chips}</div>'


def _brush(palette: Palette, cls: int = 0):
    colors = [f"rgb({c[0]}, {c[1]}, {c[2]})" for c in palette.colors]
    return gr.Brush(colors=colors, default_color=colors[cls], color_mode="fixed", default_size=8)


def _editor_value(session: EditSession) -> dict:
    return {"background": labels_to_colors(session.edited_labels(), session.palette), "layers": [], "composite": None}


def _map_picture(session: EditSession, region: dict | None = None) -> np.ndarray:
    """The current map, with the region being drawn (a box or polygon points) in red."""
    pic = labels_to_colors(session.edited_labels(), session.palette).copy()
    if region and "box" in region:
        x0, y0, x1, y1 = region["box"]
        cv2.rectangle(pic, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 0, 0), 1)
    elif region and "polygon" in region:
        pts = np.round(np.asarray(region["polygon"], np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(pic, [pts], len(pts) > 2, (255, 0, 0), 1)
        for x, y in pts[:, 0]:
            cv2.circle(pic, (int(x), int(y)), 1, (255, 0, 0), -1)
    return pic


def _commit(session: EditSession | None, editor: dict | None) -> EditSession:
    if session is None:
        raise CimgenError("load an example or upload an image and its map first")
    layers = (editor or {}).get("layers") or []
    return session.with_paint(layers)


def _parse_region(text: str | None) -> dict:
    """The region field as an edit-spec region: ``x0,y0,x1,y1`` is a box, ``x,y x,y x,y ...`` a polygon."""
    text = (text or "").strip()
    if not text:
        raise CimgenError("set a region first: the box tool (two clicks) or the polygon tool (a click per point), or type it")
    if " " not in text and text.count(",") == 3:
        return {"box": list(parse_box(text))}
    points = parse_polygon(text)
    if len(points) < 3:
        raise CimgenError(f"a polygon needs at least 3 points; '{text}' has {len(points)}")
    return {"polygon": points}


def _region_shown(text: str | None) -> dict | None:
    """What to draw for the region field (also an unfinished polygon), or None."""
    try:
        return _parse_region(text)
    except CimgenError:
        try:
            points = parse_polygon((text or "").strip())
        except CimgenError:
            return None
        return {"polygon": points} if points else None


def _insert(region: dict, cls: str, shape: str) -> dict:
    """An insert edit of ``shape`` in the region: rectangles and ellipses take a box, polygons take points."""
    key = "polygon" if shape == "polygon" else "box"
    if key not in region:
        tool = "the polygon tool: a click per point" if shape == "polygon" else "the box tool: two clicks"
        raise CimgenError(f"an inserted {shape} needs a {key} ({tool})")
    return {"op": "insert", "class": cls, "shape": shape, key: region[key]}


def _first_corner(text: str | None) -> tuple[int, int] | None:
    """The first corner when the box field holds just "x,y" (one click so far), else None."""
    parts = (text or "").replace(" ", "").split(",")
    if len(parts) == 2 and all(p.lstrip("-").isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _zip(folder: Path, target: Path) -> Path:
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p != tmp:
                z.write(p, p.relative_to(folder))
    tmp.replace(target)
    return target


def _study_folders(cfg: AppConfig) -> list[str]:
    found = [str(Path(s)) for s in cfg.studies]
    root = Path(cfg.workdir)
    if root.is_dir():
        for p in sorted(root.glob("*/pristine")) + sorted(root.glob("*/*/pristine")):
            if str(p.parent) not in found:
                found.append(str(p.parent))
    return found


# ----------------------------------------------------------------------------------------------
# Editor callbacks that need nothing but their inputs (wrapped in ``guarded`` where they are wired)


def _scene_result(session: EditSession, text: str):
    """The outputs of loading a scene: the canvas with this palette's brushes, the click map, the legend, the class pickers."""
    names = list(session.palette.names)
    return (
        session,
        gr.ImageEditor(value=_editor_value(session), brush=_brush(session.palette)),
        _map_picture(session),
        session.spec_text() if session.edits else "",
        _legend(session.palette),
        gr.Dropdown(names, value=names[min(2, len(names) - 1)]),
        gr.Dropdown(names, value=names[0]),
        _message(text),
    )


def _edited(session: EditSession, text: str, box_value=None):
    """The outputs of an edit: the session, the canvas, the click map, the spec, the status line."""
    return (
        session,
        _editor_value(session),
        _map_picture(session, box_value),
        session.spec_text() if session.edits else "",
        _message(text),
    )


def apply_strokes(session, editor_value):
    """The painted strokes become paint edits."""
    new = _commit(session, editor_value)
    added = len(new.edits) - len(session.edits)
    return _edited(new, f"{added} paint edit(s) added." if added else "Nothing new was painted.")


def undo(session, editor_value):
    """Drop the last edit."""
    if session is None:
        raise CimgenError("nothing is loaded")
    return _edited(session.undo(), "Last edit undone.")


def reset(session, editor_value):
    """Drop every edit."""
    if session is None:
        raise CimgenError("nothing is loaded")
    return _edited(EditSession(scene=session.scene, palette=session.palette), "All edits removed.")


def region_op(make: Callable[[dict, str, str], dict]):
    """A callback that adds the edit ``make(region, class a, class b)`` builds from the region field."""

    def op(session, editor_value, box_text, a, b):
        session = _commit(session, editor_value)
        item = make(_parse_region(box_text), a, b)
        new = session.with_edit(item)
        return _edited(new, f"{item['op']} applied.")

    return op


REGION_OPS = (
    ("remove_in_region", lambda region, a, b: {"op": "remove", "class": a, **region}),
    ("insert_rectangle", lambda region, a, b: _insert(region, a, "rectangle")),
    ("insert_ellipse", lambda region, a, b: _insert(region, a, "ellipse")),
    ("insert_polygon", lambda region, a, b: _insert(region, a, "polygon")),
    ("replace_in_region", lambda region, a, b: {"op": "replace", "from": a, "to": b, **region}),
)
"""The region buttons' API names and the edit each makes, in the order of the buttons."""


def on_click(session, editor_value, tool_value, box_text, evt: gr.SelectData):
    """A click on the map: remove the object under it, set a box corner, or add a polygon point (the chosen tool)."""
    x, y = int(evt.index[0]), int(evt.index[1])
    session = _commit(session, editor_value)
    if tool_value == TOOL_REMOVE:
        new = session.with_edit({"op": "remove", "at": [x, y]})
        return (*_edited(new, f"Removed the object at ({x}, {y}).")[:4], gr.skip(), _message(f"Removed the object at ({x}, {y})."))
    if tool_value == TOOL_POLYGON:
        shown = _region_shown(box_text)
        points = shown["polygon"] if shown and "polygon" in shown else []  # a box there starts a new polygon
        text = " ".join(f"{px:g},{py:g}" for px, py in [*points, (x, y)])
        n = len(points) + 1
        hint = "click more points, or pick an operation" if n >= 3 else f"{3 - n} more point(s) at least"
        return (
            session,
            _editor_value(session),
            _map_picture(session, _region_shown(text)),
            gr.skip(),
            text,
            _message(f"Polygon of {n} point(s); {hint}."),
        )
    first = _first_corner(box_text)
    if first is None:  # this click is the first corner
        return (
            session,
            _editor_value(session),
            _map_picture(session),
            gr.skip(),
            f"{x},{y}",
            _message(f"First corner ({x}, {y}); click the opposite corner."),
        )
    x0, y0 = first
    bx = (min(x0, x), min(y0, y), max(x0, x) + 1, max(y0, y) + 1)
    text = ",".join(map(str, bx))
    return (
        session,
        _editor_value(session),
        _map_picture(session, {"box": list(bx)}),
        gr.skip(),
        text,
        _message(f"Box {text}; now pick an operation."),
    )


def _run_shown(cfg: AppConfig, session: EditSession, job: Path, done: ManipulationRun, detector: str, progress):
    """The outputs of a run, from the run's arrays and metrics in memory (its files are only offered for download)."""
    m, metrics = done.manipulation, done.metrics
    heat = None
    if detector and detector != NO_DETECTOR:
        progress(0.8, desc="detector heatmap")
        heat = _heatmap(cfg, m.result, detector)
    files = [done.folder / "result.png", job / "input" / "edit.yaml", _zip(job, job / "cimgen-edit.zip")]
    replay = (job / "input" / "replay.txt").read_text().strip()
    progress(1.0, desc="done")
    text = f"Done in {metrics.get('seconds', '?')} s; saved in {job}. The edit spec replays with the command shown."
    return (
        session,
        _editor_value(session),
        session.spec_text(),
        labels_to_colors(m.edited_labels, session.palette),
        m.mask.astype(np.uint8) * 255,
        m.generated,
        (session.scene.image, m.result),
        m.result,
        heat,
        [str(f) for f in files],
        replay,
        {k: metrics[k] for k in SHOWN_METRICS if k in metrics},
        _message(text),
    )


# ----------------------------------------------------------------------------------------------
# The editor tab


@dataclass
class EditorParts:
    """The editor tab's components that callbacks read or write."""

    generator: gr.Dropdown
    example: gr.Dropdown
    load_example_btn: gr.Button
    up_image: gr.File
    up_map: gr.File
    up_inst: gr.File
    load_upload_btn: gr.Button
    legend: gr.HTML
    editor: gr.ImageEditor
    status: gr.Markdown
    tool: gr.Radio
    click_map: gr.Image
    box: gr.Textbox
    cls_a: gr.Dropdown
    cls_b: gr.Dropdown
    region_btns: tuple[gr.Button, ...]
    """One per ``REGION_OPS`` item, in its order."""
    commit_btn: gr.Button
    undo_btn: gr.Button
    reset_btn: gr.Button
    spec_view: gr.Code
    run: RunParts


@dataclass
class RunParts:
    """The run panel's components: its options, its button and its outputs."""

    blend: gr.Radio
    radius: gr.Slider
    feather: gr.Slider
    finetune: gr.Checkbox
    finetune_steps: gr.Number
    detector: gr.Dropdown
    shadows: gr.Radio
    run_btn: gr.Button
    out_map: gr.Image
    out_mask: gr.Image
    out_generated: gr.Image
    out_slider: gr.ImageSlider
    out_result: gr.Image
    out_heat: gr.Image
    out_files: gr.File
    out_replay: gr.Textbox
    out_metrics: gr.JSON


def _editor_layout(generators: list[tuple[str, str]], detectors: list[tuple[str, str]], first_palette: Palette) -> EditorParts:
    """The editor tab's components: scene pickers, the canvas, the tools, the spec, then the run panel."""
    with gr.Row():
        with gr.Column(scale=1):
            generator = gr.Dropdown(generators, value=generators[0][1], label="Generator checkpoint", elem_id="generator")
            example = gr.Dropdown([(n, i) for i, n in enumerate(example_names())], value=0, label="Bundled example", elem_id="example")
            load_example_btn = gr.Button("Load example", elem_id="load-example")
            with gr.Accordion("Or upload your own", open=False):
                up_image = gr.File(label="Image", file_types=None, type="filepath", elem_id="upload-image")
                up_map = gr.File(label="Its map (label ids or palette colours)", type="filepath", elem_id="upload-map")
                up_inst = gr.File(label="Instance map (optional)", type="filepath", elem_id="upload-instances")
                load_upload_btn = gr.Button("Load uploads", elem_id="load-upload")
                gr.Markdown("No map? Pick a CycleGAN generator and leave the map empty: the map is made from the image.")
        with gr.Column(scale=3):
            legend = gr.HTML(_legend(first_palette), elem_id="legend")
            editor = gr.ImageEditor(
                label="Semantic map: paint with the class colours",
                type="numpy",
                image_mode="RGBA",
                sources=(),
                transforms=(),
                layers=False,
                brush=_brush(first_palette),
                eraser=gr.Eraser(),
                format="png",
                elem_id="map-editor",
            )
    status = gr.Markdown("Load an example to start.", elem_id="status")
    with gr.Row():
        with gr.Column(scale=2):
            gr.Markdown("### Tools")
            tool = gr.Radio([TOOL_REMOVE, TOOL_BOX, TOOL_POLYGON], value=TOOL_REMOVE, label="A click on the map below does", elem_id="tool")
            click_map = gr.Image(label="Current map (click here)", interactive=False, format="png", elem_id="click-map")
            box = gr.Textbox(label="Region: a box x0,y0,x1,y1 or a polygon x,y x,y x,y ...", elem_id="box")
            class_names = list(first_palette.names)
            cls_a = gr.Dropdown(class_names, value=class_names[min(2, len(class_names) - 1)], label="Class", elem_id="class-a")
            cls_b = gr.Dropdown(class_names, value=class_names[0], label="Replace with / brush class", elem_id="class-b")
            with gr.Row():
                region_btns = (
                    gr.Button("Remove class in region"),
                    gr.Button("Insert rectangle"),
                    gr.Button("Insert ellipse"),
                    gr.Button("Insert polygon"),
                    gr.Button("Replace class in region"),
                )
            with gr.Row():
                commit_btn = gr.Button("Apply strokes", elem_id="apply-strokes")
                undo_btn = gr.Button("Undo last edit", elem_id="undo")
                reset_btn = gr.Button("Start over", elem_id="reset")
        with gr.Column(scale=1):
            gr.Markdown("### Edit spec (replayable with `cimgen manipulate --spec`)")
            spec_view = gr.Code(language="yaml", label="edit.yaml", interactive=False, elem_id="spec")
    return EditorParts(
        generator, example, load_example_btn, up_image, up_map, up_inst, load_upload_btn, legend, editor, status, tool,
        click_map, box, cls_a, cls_b, region_btns, commit_btn, undo_btn, reset_btn, spec_view, _run_panel(detectors),
    )  # fmt: skip


def _run_panel(detectors: list[tuple[str, str]]) -> RunParts:
    """The run options, the Run button and what a run shows."""
    gr.Markdown("### Run")
    with gr.Row():
        blend = gr.Radio(list(BLEND_MODES), value=DEFAULT_BLEND, label="Blend mode", elem_id="blend")
        radius = gr.Slider(0, 32, value=DEFAULT_RADIUS, step=1, label="Mask dilation (px)")
        feather = gr.Slider(0, 32, value=DEFAULT_FEATHER, step=0.5, label="Feather (px)")
        shadows = gr.Radio(
            list(SHADOW_CHOICES), value=DEFAULT_SHADOWS, elem_id="shadows",
            label="Removed objects' shadows in the mask (auto: below them on street views, the sun's way seen from above)",
        )  # fmt: skip
    with gr.Row():
        finetune = gr.Checkbox(False, label="Fine-tune the generator on this scene first (pix2pixHD; slow on CPU)")
        finetune_steps = gr.Number(
            None,
            precision=0,
            label=f"Fine-tuning steps (empty: {MEMORISE_STEPS}-{MEMORISE_MAX_STEPS} whole-image steps, by the image's size)",
        )
        detector = gr.Dropdown(detectors, value=NO_DETECTOR, label="Detector heatmap over the result", elem_id="detector")
    run_btn = gr.Button("Run", variant="primary", elem_id="run")
    with gr.Row():
        out_map = gr.Image(label="Edited map", format="png", interactive=False, elem_id="out-map")
        out_mask = gr.Image(label="Mask", format="png", interactive=False, elem_id="out-mask")
        out_generated = gr.Image(label="Generated", format="png", interactive=False, elem_id="out-generated")
    with gr.Row():
        out_slider = gr.ImageSlider(label="Before / after (drag)", format="png", elem_id="before-after")
        out_result = gr.Image(label="Result", format="png", interactive=False, elem_id="out-result")
        out_heat = gr.Image(label="Detector heatmap (bright = generated)", format="png", interactive=False, elem_id="out-heatmap")
    with gr.Row():
        out_files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
        with gr.Column():
            out_replay = gr.Textbox(label="Replay from the command line", interactive=False, elem_id="replay")
            out_metrics = gr.JSON(label="Metrics", elem_id="metrics")
    return RunParts(
        blend, radius, feather, finetune, finetune_steps, detector, shadows, run_btn, out_map, out_mask, out_generated,
        out_slider, out_result, out_heat, out_files, out_replay, out_metrics,
    )  # fmt: skip


def _scene_events(cfg: AppConfig, parts: EditorParts, session_state: gr.State, checked: Callable[[str], str]) -> None:
    """Loading a bundled example or uploaded files."""
    scene_outputs = [session_state, parts.editor, parts.click_map, parts.spec_view, parts.legend, parts.cls_a, parts.cls_b, parts.status]

    @guarded(len(scene_outputs))
    def load_example(index, checkpoint):
        scene = example_scene(int(index))
        palette = _palette_for(cfg, checked(checkpoint))
        if scene.labels.max() >= palette.num_classes:
            raise CimgenError(f"the bundled examples use the synthetic world's 6 classes; this generator has {palette.num_classes}")
        session = EditSession(scene=scene, palette=palette)
        return _scene_result(session, f"Loaded {scene.name} ({scene.image.shape[1]}x{scene.image.shape[0]}). Paint on the map.")

    @guarded(len(scene_outputs))
    def load_upload(image_file, map_file, inst_file, checkpoint):
        if image_file is None:
            raise CimgenError("upload an image first")
        palette = _palette_for(cfg, checked(checkpoint))
        to_map = None
        if map_file is None:
            to_map = _renderer(checkpoint, cfg.palette, cfg.direction, cfg.device).image_to_map
        scene = upload_scene(image_file, map_file, palette, limits=cfg.limits, instances_path=inst_file, image_to_map=to_map)
        session = EditSession(scene=scene, palette=palette)
        made = " (map made from the image by the CycleGAN)" if map_file is None else ""
        return _scene_result(session, f"Loaded {scene.name} ({scene.image.shape[1]}x{scene.image.shape[0]}){made}. Paint on the map.")

    parts.load_example_btn.click(load_example, [parts.example, parts.generator], scene_outputs, api_name="load_example")
    parts.load_upload_btn.click(
        load_upload, [parts.up_image, parts.up_map, parts.up_inst, parts.generator], scene_outputs, api_name="load_upload"
    )


def _edit_events(parts: EditorParts, session_state: gr.State, first_palette: Palette) -> None:
    """Strokes, undo, start over, the region buttons, clicks on the map, and the brush class."""
    edit_outputs = [session_state, parts.editor, parts.click_map, parts.spec_view, parts.status]
    edit_guard = guarded(len(edit_outputs))
    parts.commit_btn.click(edit_guard(apply_strokes), [session_state, parts.editor], edit_outputs, api_name="apply_strokes")
    parts.undo_btn.click(edit_guard(undo), [session_state, parts.editor], edit_outputs, api_name="undo")
    parts.reset_btn.click(edit_guard(reset), [session_state, parts.editor], edit_outputs, api_name="reset")
    region_inputs = [session_state, parts.editor, parts.box, parts.cls_a, parts.cls_b]
    for button, (api_name, make) in zip(parts.region_btns, REGION_OPS, strict=True):
        button.click(edit_guard(region_op(make)), region_inputs, edit_outputs, api_name=api_name)

    click_outputs = [session_state, parts.editor, parts.click_map, parts.spec_view, parts.box, parts.status]
    click_inputs = [session_state, parts.editor, parts.tool, parts.box]
    parts.click_map.select(guarded(len(click_outputs))(on_click), click_inputs, click_outputs, api_name="map_click")

    def brush_class(session, name):
        palette = session.palette if session is not None else first_palette
        if name not in palette.names:
            return gr.skip()
        return gr.ImageEditor(brush=_brush(palette, palette.names.index(name)))

    parts.cls_b.change(brush_class, [session_state, parts.cls_b], parts.editor, api_visibility="private")


def _run_events(cfg: AppConfig, parts: EditorParts, session_state: gr.State, checked: Callable[[str], str]) -> None:
    """The Run button: the edit rendered by the page's kept generator, blended, shown, offered for download."""
    r = parts.run
    run_outputs = [
        session_state, parts.editor, parts.spec_view, r.out_map, r.out_mask, r.out_generated, r.out_slider, r.out_result,
        r.out_heat, r.out_files, r.out_replay, r.out_metrics, parts.status,
    ]  # fmt: skip

    @guarded(len(run_outputs))
    def run(
        session,
        editor_value,
        checkpoint,
        blend_mode,
        radius_v,
        feather_v,
        finetune_v,
        steps_v,
        detector_v,
        shadows_v=DEFAULT_SHADOWS,
        progress=gr.Progress(),  # noqa: B008 (gradio's way of asking for a progress bar)
    ):
        progress(0.05, desc="adding the painted strokes to the edit spec")
        session = _commit(session, editor_value)
        options = RunOptions(
            checkpoint=checked(checkpoint),
            blend=blend_mode,
            radius=int(radius_v),
            feather=float(feather_v),
            shadows=shadows_v,
            finetune=bool(finetune_v),
            finetune_steps=int(steps_v) if steps_v else None,
            direction=cfg.direction,
            palette=cfg.palette,
            device=cfg.device,
        )
        job = new_job_folder(Path(cfg.workdir) / "runs")
        progress(0.15, desc="rendering the edited map and blending")
        try:
            # the kept generator; run_edit refuses a session without edits before anything is loaded
            renderer = _renderer(options.checkpoint, options.palette, options.direction, options.device) if session.edits else None
            done = run_edit(session, options, job, renderer=renderer, echo=lambda line: progress(0.5, desc=line[:120]))
        except BaseException:
            shutil.rmtree(job, ignore_errors=True)
            raise
        return _run_shown(cfg, session, job, done, detector_v, progress)

    run_inputs = [
        session_state, parts.editor, parts.generator, r.blend, r.radius, r.feather, r.finetune, r.finetune_steps, r.detector, r.shadows,
    ]  # fmt: skip
    r.run_btn.click(
        run,
        run_inputs,
        run_outputs,
        concurrency_limit=cfg.concurrency,
        concurrency_id="run",
        show_progress_on=[r.out_result],  # the progress bar over the result, not over the canvas being reset
        api_name="run",
    )


def editor_tab(
    cfg: AppConfig,
    session_state: gr.State,
    generators: list[tuple[str, str]],
    detectors: list[tuple[str, str]],
    first_palette: Palette,
    checked: Callable[[str], str],
) -> EditorParts:
    """The "Editor" tab: load a scene, edit its map, run the manipulation."""
    with gr.Tab("Editor"):
        parts = _editor_layout(generators, detectors, first_palette)
    _scene_events(cfg, parts, session_state, checked)
    _edit_events(parts, session_state, first_palette)
    _run_events(cfg, parts, session_state, checked)
    return parts


# ----------------------------------------------------------------------------------------------
# The "spot the fake" tab


def _show(state: dict, note: str = ""):
    """The study's outputs for its current image (or its end)."""
    items, i = state["items"], state["index"]
    if i >= len(items):
        return (state, None, f"Finished: {state['done']} answered.", _message(note))
    state["shown_at"] = time.monotonic()
    state["click"] = None
    return (state, read_image(items[i].path), f"Image {i + 1} of {len(items)}", _message(note))


def study_click(state, evt: gr.SelectData):
    """Remember where the participant clicked, for the answer that follows."""
    if state is None:
        return state, _message("press Start first", "error")
    state["click"] = (int(evt.index[0]), int(evt.index[1]))
    return state, _message(f"Marked ({state['click'][0]}, {state['click'][1]}); now answer.")


def study_answer(label: str):
    """The callback of the ``label`` answer button: score it, record it, show the next image."""

    def answer(state):
        if state is None or state["index"] >= len(state["items"]):
            raise CimgenError("press Start to begin a study")
        item = state["items"][state["index"]]
        row = score_answer(
            item,
            STUDY_ANSWERS[label],
            participant=state["participant"],
            order=state["index"] + 1,
            click=state.get("click"),
            seconds=time.monotonic() - state.get("shown_at", time.monotonic()),
        )
        overall = record_answer(state["out"], row)
        state["index"] += 1
        state["done"] += 1
        verdict = "right" if row["correct"] else "wrong"
        note = f"That was {verdict}. Overall accuracy so far (all participants): {overall['accuracy']} over {overall['answers']} answers; {Path(state['out']) / 'accuracy.csv'}."
        return _show(state, note)

    return answer


def study_tab(cfg: AppConfig) -> None:
    """The "Spot the fake" tab: a shuffled mix of pristine and manipulated images, each answered and recorded."""
    with gr.Tab("Spot the fake"):
        gr.Markdown(
            "A shuffled mix of pristine and manipulated images, one at a time. Answer for each; optionally click "
            "where you think the edit is first. Answers and accuracy are written to CSV files."
        )
        study_state = gr.State(None)
        with gr.Row():
            folder = gr.Dropdown(_study_folders(cfg), label="Study folder", elem_id="study-folder")
            participant = gr.Textbox(label="Participant (name or code)", elem_id="participant")
            one_per_scene = gr.Checkbox(True, label="Show each scene once (pristine or manipulated)")
            limit = gr.Number(0, precision=0, label="Images (0: all)")
            seed = gr.Number(0, precision=0, label="Shuffle seed")
        start_btn = gr.Button("Start", elem_id="study-start")
        study_info = gr.Markdown("", elem_id="study-info")
        study_image = gr.Image(
            label="Is this image pristine or manipulated? (click where the edit is, if you see one)",
            interactive=False,
            format="png",
            elem_id="study-image",
        )
        with gr.Row():
            pristine_btn = gr.Button("Pristine", elem_id="answer-pristine")
            fake_btn = gr.Button("Manipulated", elem_id="answer-manipulated")
        study_status = gr.Markdown("", elem_id="study-status")

    study_outputs = [study_state, study_image, study_info, study_status]

    @guarded(len(study_outputs))
    def start(folder_v, who, once, limit_v, seed_v):
        if not folder_v:
            raise CimgenError("pick a study folder (start the app with --study FOLDER to offer one)")
        if folder_v not in _study_folders(cfg):
            raise CimgenError(f"{folder_v} is not one of the study folders this app offers")
        who = (who or "").strip()
        if not who:
            raise CimgenError("enter a participant name or code first")
        items = study_items(folder_v, one_per_scene=bool(once), seed=int(seed_v or 0), limit=int(limit_v or 0))
        out = Path(cfg.workdir) / "studies" / Path(folder_v).name
        state = {"items": items, "index": 0, "participant": who, "out": str(out), "done": 0}
        return _show(state, f"{len(items)} images. Answers go to {out / 'answers.csv'}.")

    answer_guard = guarded(len(study_outputs))
    start_btn.click(start, [folder, participant, one_per_scene, limit, seed], study_outputs, api_name="study_start")
    study_image.select(study_click, [study_state], [study_state, study_status], api_visibility="private")
    pristine_btn.click(answer_guard(study_answer("Pristine")), [study_state], study_outputs, api_name="answer_pristine")
    fake_btn.click(answer_guard(study_answer("Manipulated")), [study_state], study_outputs, api_name="answer_manipulated")


# ----------------------------------------------------------------------------------------------
# The page


BUNDLED_GENERATORS = (
    ("bundled synthetic-world pix2pixHD", "transpose"),
    ("bundled synthetic-world pix2pixHD, resize convolutions (best start for fine-tuning)", "resize"),
)
"""The shipped generators the page always offers (label, ``shipped_checkpoint`` kind), the first one selected: the transposed
one renders the synthetic world as the demo does; its twin is what ``cimgen manipulate --finetune`` starts from."""


def build_app(cfg: AppConfig) -> gr.Blocks:
    """The editor as a gradio Blocks app (not launched)."""
    generators = [(label, str(shipped_checkpoint(kind))) for label, kind in BUNDLED_GENERATORS] + [(c, c) for c in cfg.checkpoints]
    detectors = [(NO_DETECTOR, NO_DETECTOR)] + [(k, k) for k in BASELINES] + [(d, d) for d in cfg.detectors]
    first_palette = _palette_for(cfg, generators[0][1])
    offered = {value for _, value in generators}

    def checked(checkpoint: str) -> str:
        # The dropdown only offers these, but a request may come from any client.
        if checkpoint not in offered:
            raise CimgenError(f"{checkpoint} is not a generator this app offers; start it with --checkpoint to add one")
        return checkpoint

    with gr.Blocks(title="cimgen editor") as app:
        gr.Markdown(
            "## cimgen editor\nLoad a scene, paint its semantic map with the class brushes (or use the tools), "
            "then **Run**: the edited map is rendered by the generator and blended into the image; every pixel "
            "outside the mask stays the original pixel."
        )
        session_state = gr.State(None)
        editor_tab(cfg, session_state, generators, detectors, first_palette, checked)
        study_tab(cfg)
    return app


def _heatmap(cfg: AppConfig, image: np.ndarray, choice: str) -> np.ndarray:
    """The chosen detector's (or baseline's) heatmap over an image."""
    if choice in BASELINES:
        scores, _, _ = image_scores(image, baseline=BASELINES[choice])
    else:
        if choice not in cfg.detectors:
            raise CimgenError(f"{choice} is not a detector this app offers")
        scores, _, _ = image_scores(image, detector=_detector(choice, cfg.device), device=cfg.device)
    return overlay(image, scores)


@functools.lru_cache(maxsize=4)
def _detector(path: str, device: str):
    model, config = load_detector(path, device)
    return model, config, path


CSS = """
.cimgen-legend { display: flex; flex-wrap: wrap; gap: 0.4em 1em; align-items: center; }
.cimgen-chip { display: inline-flex; align-items: center; gap: 0.3em; }
.cimgen-chip > span { display: inline-block; width: 1.1em; height: 1.1em; border: 1px solid #888; }
"""


def launch(cfg: AppConfig, *, host: str = "127.0.0.1", port: int = 7860, echo=print, block: bool = True):
    """Start the editor on ``host:port`` (returns the gradio app when ``block`` is False)."""
    app = build_app(cfg)
    app.queue(default_concurrency_limit=cfg.concurrency, max_size=256)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    _, url, _ = app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        max_file_size=int(cfg.limits.max_upload_mb * 1e6),
        # downloads come from the runs folder; gradio serves nothing else besides its own cache
        allowed_paths=[str((Path(cfg.workdir) / "runs").resolve())],
        ssr_mode=False,
        footer_links=[],
        theme=theme,
        css=CSS,
    )
    echo(f"cimgen editor on {url} (Ctrl-C stops it); runs, specs and study answers go to {Path(cfg.workdir).resolve()}")
    if not block:
        return app
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        echo("stopping the editor")
    finally:
        app.close()
    return app
