"""Time ``cimgen batch`` on 1 and 2 Ray workers (and in this process), check the pixels agree, kill a batch and resume it.

Run on a quiet machine (the ratio means nothing while other work shares the cores):

    .venv/bin/python benchmarks/batch.py --scenes 40 --size 256 --doc docs/benchmarks.md

It makes ``--scenes`` synthetic scenes (``cimgen.data.synth``), each inserting a water ellipse with
the shipped generator, and runs the same manifest: in this process (1 worker), then on a local Ray
instance with 1 worker and with 2 workers, each worker 1 torch thread. Ray is started and its two
worker processes warmed up (torch imported, generator read) before the timed runs, and that start is
reported apart. Then a ``cimgen batch --workers 2`` process is killed (its whole process group) once a
quarter of the scenes are done, and run again: every scene must end up made exactly once, the folders
finished before the kill untouched, and every result equal to the in-process run's pixels.
The Markdown section goes between the batch markers of ``--doc`` (or is printed when ``--doc`` is empty).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cimgen.data.synth import SynthConfig, write_world
from cimgen.generators import shipped_checkpoint
from cimgen.io.images import read_image
from cimgen.runs.batch import SCENE_RECORD, run_batch_manifest
from cimgen.train.runtime import cpu_summary

START, END = "<!-- batch:start -->", "<!-- batch:end -->"


def make_manifest(root: Path, scenes: int, size: int) -> Path:
    """A world of ``scenes`` tiles and a JSON Lines manifest inserting one water ellipse in each."""
    write_world(root / "world", scenes, SynthConfig(height=size, width=size, seed=11))
    q = size // 4
    lines = []
    for i in range(scenes):
        box = [q + (i % 5) * 4, q, 2 * q + (i % 5) * 4, 2 * q]
        edit = {"op": "insert", "class": "water", "shape": "ellipse", "box": box}
        lines.append(
            json.dumps(
                {
                    "image": f"world/images/tile_{i:05d}.png",
                    "map": f"world/labels/tile_{i:05d}.png",
                    "edits": [edit],
                    "out": f"scene_{i:03d}",
                }
            )
        )
    path = root / "scenes.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(manifest: Path, out: Path, **kw) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    result = run_batch_manifest(manifest, out, checkpoint=shipped_checkpoint(), echo=None, **kw)
    seconds = time.perf_counter() - t0
    bad = [r for r in result.rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} scene(s) failed in {out}, e.g. {bad[0]['out']}: {bad[0]['error']}")
    return seconds, result.rows


def same_pixels(a: Path, b: Path, names: list[str]) -> bool:
    return all(np.array_equal(read_image(a / n / "result.png"), read_image(b / n / "result.png")) for n in names)


def kill_and_rerun(manifest: Path, out: Path, reference: Path, names: list[str]) -> dict:
    """Kill a 2-worker ``cimgen batch`` (its process group) after a quarter of the scenes, run it again, and check the outcome."""
    argv = [sys.executable, "-m", "cimgen", "batch", str(manifest), "--checkpoint", str(shipped_checkpoint()), "--out", str(out)]
    argv += ["--workers", "2", "--quiet"]
    target = max(1, len(names) // 4)

    def finished() -> list[str]:
        return [n for n in names if (out / n).is_dir()]

    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while len(finished()) < target and proc.poll() is None:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise SystemExit("the batch to be killed ended before it could be killed; use more scenes")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = {n: (out / n / SCENE_RECORD).read_text() for n in finished()}
    t0 = time.perf_counter()
    rerun = subprocess.run(argv, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if rerun.returncode != 0:
        raise SystemExit(f"the re-run failed: {rerun.stderr.strip()}")
    rows = [json.loads(line) for line in (out / "manifest_out.jsonl").read_text().splitlines()]
    status = {r["out"]: r["status"] for r in rows}
    return {
        "killed_after": len(before),
        "skipped": sum(s == "done" for s in status.values()),
        "made": sum(s == "ok" for s in status.values()),
        "failed": sum(s == "failed" for s in status.values()),
        "lost": sum(n not in status or status[n] == "failed" for n in names),
        "redone": sum(status.get(n) != "done" or (out / n / SCENE_RECORD).read_text() != text for n, text in before.items()),
        "equal": same_pixels(out, reference, names),
        "seconds": seconds,
    }


def section(args, cmd: str, runs: list[tuple[str, float]], start_s: float, equal: bool, kill: dict) -> str:
    n = args.scenes
    base = runs[1][1]  # Ray, 1 worker
    table = "\n".join(f"| {label} | {n} | {s:.1f} | {n / s:.2f} | {base / s:.2f}x |" for label, s in runs)
    return f"""## Forgery batches on Ray workers (`benchmarks/batch.py`)

Command: `{cmd}`

Machine: {cpu_summary()}; Python {platform.python_version()}, torch {torch.__version__}, no GPU.
{n} synthetic {args.size}x{args.size} scenes (`cimgen.data.synth`), each inserting one water ellipse with the shipped
generator; every worker 1 torch thread. Ray was started and its two worker processes warmed up (torch imported, generator
read) before the timed runs: {start_s:.1f} s, not counted below.

| run | scenes | seconds | scenes per second | against 1 Ray worker |
|---|---:|---:|---:|---:|
{table}

Pixels of every result equal across the three runs: **{"yes" if equal else "NO"}**.

Kill and re-run: the process group of a `cimgen batch --workers 2` (the driver and Ray's services) was killed with
SIGKILL after {kill["killed_after"]} of {n} scenes were finished; {kill["skipped"] - kill["killed_after"]} more were finished after the kill by its Ray
worker processes (in process groups of their own, they end the scene they are on). The same command, run again
({kill["seconds"]:.1f} s, Ray's start included), skipped {kill["skipped"]}, made {kill["made"]}, failed {kill["failed"]}; scenes lost:
**{kill["lost"]}**; scenes finished before the kill made again or changed: **{kill["redone"]}**; results equal to the
in-process run's pixels: **{"yes" if kill["equal"] else "NO"}**.
"""


def write_doc(doc: Path, text: str) -> None:
    page = doc.read_text()
    if START in page and END in page:
        head, rest = page.split(START, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = page.rstrip("\n") + "\n\n", "\n"
    doc.write_text(f"{head}{START}\n{text}{END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--doc", default="", help="write the section between the batch markers of this page (default: print it)")
    args = ap.parse_args()
    cmd = " ".join([".venv/bin/python", "benchmarks/batch.py", *sys.argv[1:]])
    print(cpu_summary())
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = make_manifest(root, args.scenes, args.size)
        names = [f"scene_{i:03d}" for i in range(args.scenes)]
        runs: list[tuple[str, float]] = []
        seconds, _ = timed(manifest, root / "inline", workers=1)
        runs.append(("this process, 1 worker (no Ray; reading the generator included)", seconds))
        print(f"in this process: {seconds:.1f} s")

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="warning")
        warm = make_manifest(root / "warm", 2, 64)
        timed(warm, root / "warm" / "out", workers=2, engine="ray")
        start_s = time.perf_counter() - t0
        print(f"Ray started and warmed up in {start_s:.1f} s")
        for workers in (1, 2):
            seconds, _ = timed(manifest, root / f"ray{workers}", workers=workers, engine="ray")
            runs.append((f"Ray, {workers} worker{'s' * (workers > 1)} x 1 thread", seconds))
            print(f"Ray, {workers} worker(s): {seconds:.1f} s")
        ray.shutdown()
        equal = same_pixels(root / "inline", root / "ray1", names) and same_pixels(root / "inline", root / "ray2", names)
        print(f"2 Ray workers against 1: {runs[1][1] / runs[2][1]:.2f}x; pixels equal: {equal}")

        kill = kill_and_rerun(manifest, root / "killed", root / "inline", names)
        print(f"kill and re-run: {kill}")
    text = section(args, cmd, runs, start_s, equal, kill)
    if args.doc:
        write_doc(Path(args.doc), text)
        print(f"written to {args.doc}")
    else:
        print(text)


if __name__ == "__main__":
    main()
