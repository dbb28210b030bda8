"""Self test of an installation: every layer once, end to end, in well under a minute.

``cryoplan-planner --self-test`` in the standalone bundle, ``python -m
cryoplan_app.self_test`` in a development install. Steps: load the kidney sample
case (generated if needed), segment its tumor from the manifest's seed, simulate
one probe on a 2-mm grid with a short protocol, evaluate the plan's metrics,
render the window (four views with the 3-D view, iceball shown) to a PNG and check
it is not blank, write the PDF report and check it. Each step prints its time;
the first failure stops the test with a message naming the step, exit status 1.

The window needs a display: run it under ``xvfb-run -a`` on a machine without one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_CASE = "kidney"
#: A short freeze-thaw-freeze protocol: enough for a lethal zone, quick on 2 mm.
PROTOCOL = "F4-T2-F4"
PROBE_MODEL = "argon-2.4"
SPACING_MM = 2.0
#: How far the tip goes past the tumor centre, so that the freezing segment
#: (whose middle lies a few mm behind the tip) is centred on the tumor.
TIP_BEYOND_CENTRE_MM = 8.0
ENTRY_DISTANCE_MM = 90.0
#: Posterolateral right flank, the manifest's suggested approach (LPS: right is -x,
#: posterior is +y).
APPROACH_LPS = (-0.5, 1.0, 0.0)
#: Smallest Dice between the one-click tumor and the ground truth accepted.
MIN_SEGMENTATION_DICE = 0.75
#: The window picture: at least this fraction of 32-px tiles must show structure
#: (standard deviation of the grey level above MIN_TILE_STD out of 255).
MIN_BUSY_TILE_FRACTION = 0.55
MIN_TILE_STD = 4.0
TILE_PX = 32
MIN_DISTINCT_COLOURS = 5000
WINDOW_SIZE = (1600, 1000)


class SelfTestError(Exception):
    """A check of the self test failed; the message says which and why."""


@dataclass
class Context:
    """What the steps hand each other."""

    work_dir: Path
    values: dict[str, Any] = field(default_factory=dict)


def _load_case(context: Context) -> str:
    from planning_core.imaging.case_sources import SAMPLE_CASE_KIND, CaseSource, open_case

    # Through the case-source registry, as the window and the command line open it.
    case = open_case(CaseSource(SAMPLE_CASE_KIND, SAMPLE_CASE))
    volume, label_map = case.volume, case.labels
    if label_map is None:
        raise SelfTestError(f"the {SAMPLE_CASE} sample case came without its label map")
    context.values.update(case=case.files, volume=volume, truth=label_map)
    shape = "×".join(str(n) for n in reversed(volume.geometry.shape))
    return f"{SAMPLE_CASE}: {volume.modality} {shape} voxels from {case.files.image_path}"


def _segment(context: Context) -> str:
    from planning_core.figures import format_volume_ml
    from planning_core.segmentation.metrics import dice, mask_volume_ml
    from planning_core.segmentation.tumor import segment_tumor

    case, volume, truth = (context.values[k] for k in ("case", "volume", "truth"))
    seed = case.details["tumor"]["seed_lps_mm"]
    tumor = segment_tumor(volume, seed).label_map.mask("tumor")
    score = dice(tumor, truth.mask("tumor"))
    if score < MIN_SEGMENTATION_DICE:
        raise SelfTestError(
            f"the one-click tumor matches the ground truth with Dice {score:.3f}, "
            f"below {MIN_SEGMENTATION_DICE}"
        )
    # The plan uses the segmented tumor with the case's organs around it.
    context.values["labels"] = truth.with_mask("tumor", tumor)
    volume_ml = mask_volume_ml(tumor, volume.geometry)
    return (
        f"tumor {format_volume_ml(volume_ml)} from the seed {_format_point(seed)}, "
        f"Dice {score:.3f}"
    )


def _simulate(context: Context) -> str:
    from planning_core.figures import format_volume_ml
    from planning_core.planning.case_reference import CaseReference
    from planning_core.planning.evaluate import simulate_plan
    from planning_core.planning.plan import Plan, PlannedProbe

    case, volume, labels = (context.values[k] for k in ("case", "volume", "labels"))
    centre = np.asarray(case.details["tumor"]["center_lps_mm"], dtype=float)
    inward = -np.asarray(APPROACH_LPS, dtype=float) / np.linalg.norm(APPROACH_LPS)
    tip = centre + TIP_BEYOND_CENTRE_MM * inward
    entry = tip - ENTRY_DISTANCE_MM * inward
    plan = Plan(
        probes=(PlannedProbe(PROBE_MODEL, tuple(tip), tuple(entry), label="P1"),),
        protocol=PROTOCOL,
        case=CaseReference.for_volume(volume),
        image_path=case.image_path,
        name="self test",
    )
    simulation = simulate_plan(plan, volume, labels, spacing_mm=SPACING_MM)
    lethal_c = plan.settings.lethal_isotherm_c
    frozen_ml = float((simulation.min_temperature_c <= lethal_c).sum()) * (SPACING_MM**3 / 1000.0)
    if frozen_ml <= 0.0:
        raise SelfTestError(f"the simulation produced no tissue at or below {lethal_c:g} °C")
    context.values.update(plan=plan)
    return (
        f"1 × {PROBE_MODEL}, {PROTOCOL}, {SPACING_MM:g} mm grid: {format_volume_ml(frozen_ml)} "
        f"at or below {lethal_c:g} °C, solver {simulation.wall_s:.2f} s{_numba_cache_note()}"
    )


def _evaluate(context: Context) -> str:
    from planning_core.figures import format_coverage_percent
    from planning_core.planning.case_files import write_plan_case_files
    from planning_core.planning.evaluate import evaluate_plan
    from planning_core.planning.plan_json import save_plan

    plan, volume, labels = (context.values[k] for k in ("plan", "volume", "labels"))
    evaluation = evaluate_plan(plan, volume, labels, spacing_mm=SPACING_MM)
    metrics = evaluation.metrics
    lethal = next(c for c in metrics.coverage if c.isotherm_c == metrics.lethal_isotherm_c)
    if not 0.0 < lethal.tumor_percent <= 100.0:
        raise SelfTestError(
            "tumor coverage by the lethal isotherm is "
            f"{format_coverage_percent(lethal.tumor_percent)}, "
            "expected a value in (0, 100] for a probe through the tumor centre"
        )
    plan_path = context.work_dir / "self-test.cryoplan.json"
    saved = write_plan_case_files(
        evaluation.plan,
        plan_path=plan_path,
        label_map=labels,
        simulation=evaluation.simulation,
        image_path=context.values["case"].image_path,
    )
    save_plan(saved, plan_path)
    context.values.update(evaluation=evaluation, plan_path=plan_path)
    return (
        f"lethal coverage {format_coverage_percent(lethal.tumor_percent)} of the tumor, "
        f"{len(metrics.oars)} organs at risk checked; plan saved to {plan_path}"
    )


def _render(context: Context) -> str:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise SelfTestError(
            "no display (DISPLAY is not set): run the self test under `xvfb-run -a`"
        )
    from cryoplan_app.qt.app import run_gui

    png = context.work_dir / "self-test-window.png"
    status = run_gui(
        case=None, layout="4up", screenshot=png, size=WINDOW_SIZE, plan=context.values["plan_path"]
    )
    if status != 0 or not png.is_file():
        raise SelfTestError(f"the window exited with status {status} and wrote no {png.name}")
    return f"{check_window_picture(png)}; {png}"


def check_window_picture(path: Path) -> str:
    """Check that a window screenshot shows content; return a one-line description.

    Raises
    ------
    SelfTestError
        When the picture is too small, nearly one colour, or mostly flat.
    """
    from matplotlib.image import imread

    pixels = np.asarray(imread(path))
    if pixels.dtype != np.uint8:
        pixels = np.round(pixels * 255.0).astype(np.uint8)
    rgb = pixels[..., :3]
    height, width = rgb.shape[:2]
    if height < TILE_PX * 4 or width < TILE_PX * 4:
        raise SelfTestError(f"{path.name} is only {width}×{height} pixels")
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8)
    colours = len(np.unique(packed | rgb[..., 2]))
    if colours < MIN_DISTINCT_COLOURS:
        raise SelfTestError(
            f"{path.name} holds {colours} distinct colours (< {MIN_DISTINCT_COLOURS}): "
            "the views look blank"
        )
    grey = rgb.mean(axis=2)
    rows, cols = height // TILE_PX, width // TILE_PX
    tiles = grey[: rows * TILE_PX, : cols * TILE_PX].reshape(rows, TILE_PX, cols, TILE_PX)
    busy = float((tiles.std(axis=(1, 3)) > MIN_TILE_STD).mean())
    if busy < MIN_BUSY_TILE_FRACTION:
        raise SelfTestError(
            f"only {busy:.0%} of {path.name}'s {TILE_PX}-px tiles show structure "
            f"(< {MIN_BUSY_TILE_FRACTION:.0%}): the views look blank"
        )
    return f"{width}×{height} px, {colours} colours, {busy:.0%} of tiles with structure"


def _report(context: Context) -> str:
    from planning_core.report.build import build_report
    from planning_core.report.slices import DoseField

    evaluation = context.values["evaluation"]
    simulation = evaluation.simulation
    dose = DoseField(
        simulation.min_temperature_c, simulation.geometry, simulation.body_temperature_c
    )
    pdf = context.work_dir / "self-test-report.pdf"
    build_report(
        evaluation.plan,
        context.values["volume"],
        context.values["labels"],
        dose=dose,
        out_path=pdf,
    )
    return f"{check_pdf(pdf)}; {pdf}"


def check_pdf(path: Path) -> str:
    """Check that ``path`` is a complete PDF with pages and embedded fonts.

    Raises
    ------
    SelfTestError
        When the file is missing, truncated, or has no page or no embedded font.
    """
    data = path.read_bytes() if path.is_file() else b""
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise SelfTestError(f"{path.name} is not a complete PDF ({len(data)} bytes)")
    pages = data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") + data.count(b"/Type /Page/")
    if pages == 0:
        raise SelfTestError(f"{path.name} has no page")
    if b"/FontFile2" not in data:
        raise SelfTestError(f"{path.name} embeds no TrueType font (DejaVu Sans expected)")
    return f"{pages} pages, {len(data) / 1e6:.2f} MB, fonts embedded"


#: The steps in order: (name, function returning a one-line detail).
STEPS: tuple[tuple[str, Callable[[Context], str]], ...] = (
    ("load sample case", _load_case),
    ("segment tumor", _segment),
    ("simulate", _simulate),
    ("evaluate metrics", _evaluate),
    ("render window", _render),
    ("write report", _report),
)


def run_self_test(*, work_dir: Path, out=sys.stdout) -> int:
    """Run the steps, printing ``[ok] name  seconds  detail`` per step; return 0 or 1.

    Parameters
    ----------
    work_dir : Path
        Folder for the plan, the PNG and the PDF. The sample case comes from
        ``$CRYOPLAN_SAMPLE_DIR``, else the user cache.
    out : text stream
        Where the lines go.
    """
    context = Context(work_dir=work_dir)
    started = time.perf_counter()
    for name, step in STEPS:
        step_started = time.perf_counter()
        try:
            detail = step(context)
        except Exception as error:  # every failure must name its step, whatever raised it
            seconds = time.perf_counter() - step_started
            print(f"[FAIL] {name:<17} {seconds:6.1f} s  {type(error).__name__}: {error}", file=out)
            if not isinstance(error, SelfTestError):
                traceback.print_exc()
            print(f"self test FAILED at step '{name}'", file=out)
            return 1
        seconds = time.perf_counter() - step_started
        print(f"[ok]   {name:<17} {seconds:6.1f} s  {detail}", file=out, flush=True)
    print(f"self test passed in {time.perf_counter() - started:.1f} s", file=out)
    return 0


def _numba_cache_note() -> str:
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder:
        return ""
    entries = sum(1 for _ in Path(folder).rglob("*.nbi"))
    return f", numba cache {folder} ({entries} index files)"


def _format_point(point: Sequence[float]) -> str:
    return "(" + ", ".join(f"{value:.1f}" for value in point) + ")"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the self test."""
    parser = argparse.ArgumentParser(
        prog="cryoplan-planner --self-test",
        description="Check this installation end to end: sample case, segmentation, "
        "simulation, metrics, window rendering (needs a display or xvfb-run) and PDF report.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="keep the plan, PNG and PDF in DIR (default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--fresh-sample",
        action="store_true",
        help="generate the kidney case into a temporary folder instead of the user cache",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cryoplan-self-test-") as scratch:
        scratch_dir = Path(scratch)
        work_dir = args.out if args.out is not None else scratch_dir / "out"
        work_dir.mkdir(parents=True, exist_ok=True)
        if args.fresh_sample:
            # The sample case source generates into $CRYOPLAN_SAMPLE_DIR (this process only).
            os.environ["CRYOPLAN_SAMPLE_DIR"] = str(scratch_dir / "samples")
        return run_self_test(work_dir=work_dir)


if __name__ == "__main__":
    sys.exit(main())
