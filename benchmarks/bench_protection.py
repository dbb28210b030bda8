"""Organ protection benchmark: the ice beside an organ at risk with and without protection.

Scenario 1 (hydrodissection): two argon-2.4 probes 12 mm apart along L in soft
tissue, freezing segments centred at the origin, protocol 10-8-10; an organ at
risk (a bowel loop) fills the space beyond P = +12 mm. Cases: no protection; a
10 mm infused hydrodissection layer at 37 °C and at 40 °C (placed with
:func:`~planning_core.thermal.protection.layer_between`: the fluid takes P 12-22 mm
and the organ lies behind it); the same layer as a single bolus. Printed per
case: how far the 0 °C edge reaches along +P, the organ's coldest temperature and
its volume below 0 °C and -20 °C, the iceball volumes and the run time.

Scenario 2 (skin pack): one argon-2.4 probe 12 mm under a flat skin (air above
P = -12 mm), 10-8-10, without and with a 40 °C skin pack of 40 mm radius over the
entry. Printed: the coldest skin temperature (the outermost tissue layer) and
the skin area below 0 °C.

Run: ``python benchmarks/bench_protection.py [--spacing-mm 1.0] [--figure PATH]``;
``--figure`` writes a PNG of the hydrodissection cases (minimum temperature on
the axial plane through the probes, 0 °C and -20 °C edges).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protection import (
    SkinPack,
    apply_protection,
    layer_between,
)
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import SimulationSetup, build_setup
from planning_core.thermal.solver import simulate
from planning_core.thermal.tissues import load_tissue_library

ORGAN_GAP_MM = 12.0
LAYER_MM = 10.0
SKIN_DEPTH_MM = 12.0
PROTOCOL = "10-8-10"


def _probes(offsets_l_mm: tuple[float, ...]) -> list[PlacedProbe]:
    model = load_probe_library().get("argon-2.4")
    probes = []
    for offset in offsets_l_mm:
        tip = np.array([offset, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
        probes.append(PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0])))
    return probes


def _coordinates(setup: SimulationSetup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nk, nj, ni = setup.geometry.shape
    spacing = np.asarray(setup.geometry.spacing_mm)
    origin = np.asarray(setup.geometry.origin_lps_mm)
    return (
        origin[0] + np.arange(ni) * spacing[0],
        origin[1] + np.arange(nj) * spacing[1],
        origin[2] + np.arange(nk) * spacing[2],
    )


def hydrodissection_cases(spacing_mm: float) -> list[dict]:
    base = build_setup(_probes((-6.0, 6.0)), medium="soft_tissue", spacing_mm=spacing_mm)
    x, y, z = _coordinates(base)
    target = np.array([[0.0, 0.0, 0.0]])
    organ_surface = np.array([[0.0, ORGAN_GAP_MM, 0.0]])
    cases = [("none", None, ORGAN_GAP_MM)]
    for temperature_c, infused, label in (
        (37.0, True, "10 mm infused, 37 °C"),
        (40.0, True, "10 mm infused, 40 °C"),
        (37.0, False, "10 mm bolus, 37 °C"),
    ):
        layer = layer_between(
            target,
            organ_surface,
            thickness_mm=LAYER_MM,
            radius_mm=40.0,
            temperature_c=temperature_c,
            infused=infused,
        )
        cases.append((label, layer, ORGAN_GAP_MM + LAYER_MM))
    rows = []
    for label, layer, organ_from_mm in cases:
        setup = base if layer is None else apply_protection(base, [layer])
        started = time.perf_counter()
        result = simulate(setup, parse_protocol(PROTOCOL))
        wall_s = time.perf_counter() - started
        minimum = result.min_temperature_c
        organ = np.broadcast_to(y[None, :, None] >= organ_from_mm - 1e-6, minimum.shape)
        frozen_p = y[np.any(minimum <= 0.0, axis=(0, 2))]
        voxel_ml = setup.geometry.voxel_volume_mm3 * 1e-3
        rows.append(
            {
                "case": label,
                "ice_reach_p_mm": float(frozen_p.max()) if frozen_p.size else float("nan"),
                "organ_from_p_mm": organ_from_mm,
                "organ_min_c": float(minimum[organ].min()),
                "organ_below_0_ml": float(np.count_nonzero(minimum[organ] <= 0.0) * voxel_ml),
                "organ_below_m20_ml": float(np.count_nonzero(minimum[organ] <= -20.0) * voxel_ml),
                "ice_0_ml": result.isotherm_volume_ml(0.0),
                "ice_m20_ml": result.isotherm_volume_ml(-20.0),
                "wall_s": wall_s,
                "slice": minimum[int(np.argmin(np.abs(z))), :, :],
                "x": x,
                "y": y,
                "layer": layer,
            }
        )
    return rows


def skin_pack_cases(spacing_mm: float) -> list[dict]:
    probes = _probes((0.0,))
    base = build_setup(probes, medium="soft_tissue", spacing_mm=spacing_mm)
    _, y, _ = _coordinates(base)
    tissues = (*base.tissues, load_tissue_library().get("air"))
    air_index = len(base.tissues)
    index = base.tissue_index.copy()
    outside = np.broadcast_to(y[None, :, None] < -SKIN_DEPTH_MM, index.shape)
    index[outside] = air_index
    skin_row = int(np.nonzero(y >= -SKIN_DEPTH_MM)[0][0])
    bare = SimulationSetup(base.geometry, index, tissues, base.probes, base.body_temperature_c)
    entry = np.array([0.0, -SKIN_DEPTH_MM, 0.0])
    rows = []
    for label, setup in (
        ("none", bare),
        ("40 °C pack, radius 40 mm", apply_protection(bare, [SkinPack(entry, radius_mm=40.0)])),
    ):
        started = time.perf_counter()
        result = simulate(setup, parse_protocol(PROTOCOL), isotherms_c=(0.0,))
        skin = result.min_temperature_c[:, skin_row, :]
        rows.append(
            {
                "case": label,
                "skin_min_c": float(skin.min()),
                "skin_below_0_cm2": float(np.count_nonzero(skin <= 0.0) * spacing_mm**2 / 100.0),
                "ice_0_ml": result.isotherm_volume_ml(0.0),
                "wall_s": time.perf_counter() - started,
            }
        )
    return rows


def _figure(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    for axis, row in zip(axes, rows[:2], strict=True):
        extent = (row["x"][0], row["x"][-1], row["y"][-1], row["y"][0])
        image = axis.imshow(row["slice"], extent=extent, cmap="coolwarm", vmin=-60, vmax=40)
        axis.contour(row["x"], row["y"], row["slice"], levels=(-20.0, 0.0), colors=("b", "k"))
        axis.axhline(row["organ_from_p_mm"], color="orange", lw=1.5, label="organ at risk")
        if row["layer"] is not None:
            axis.axhspan(ORGAN_GAP_MM, ORGAN_GAP_MM + LAYER_MM, color="cyan", alpha=0.25)
        axis.set_title(f"{row['case']}: organ min {row['organ_min_c']:.0f} °C")
        axis.set_xlabel("L (mm)")
        axis.invert_yaxis()
    axes[0].set_ylabel("P (mm)")
    fig.colorbar(image, ax=axes, label="minimum temperature (°C)")
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing-mm", type=float, default=1.0)
    parser.add_argument("--figure", default="")
    args = parser.parse_args()
    print(f"hydrodissection, two argon-2.4 probes, {PROTOCOL}, {args.spacing_mm:g} mm grid")
    print(
        f"{'case':24s} {'0°C reach P':>11s} {'organ from':>10s} {'organ min':>9s} "
        f"{'organ<0':>8s} {'organ<-20':>9s} {'ice 0':>7s} {'ice -20':>7s} {'run':>6s}"
    )
    rows = hydrodissection_cases(args.spacing_mm)
    for row in rows:
        print(
            f"{row['case']:24s} {row['ice_reach_p_mm']:9.1f}mm {row['organ_from_p_mm']:8.1f}mm "
            f"{row['organ_min_c']:7.1f}°C {row['organ_below_0_ml']:6.2f}mL "
            f"{row['organ_below_m20_ml']:7.2f}mL {row['ice_0_ml']:5.1f}mL "
            f"{row['ice_m20_ml']:5.1f}mL {row['wall_s']:5.1f}s"
        )
    print(f"skin pack, one argon-2.4 probe {SKIN_DEPTH_MM:g} mm under the skin, {PROTOCOL}")
    for row in skin_pack_cases(args.spacing_mm):
        print(
            f"{row['case']:26s} skin min {row['skin_min_c']:6.1f}°C, skin below 0 °C "
            f"{row['skin_below_0_cm2']:5.2f} cm², ice 0 °C {row['ice_0_ml']:5.1f} mL, "
            f"run {row['wall_s']:.1f} s"
        )
    if args.figure:
        _figure(rows, args.figure)


if __name__ == "__main__":
    main()
