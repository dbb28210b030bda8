"""The bioheat solver: Pennes equation with phase change in enthalpy form.

``dH/dt = ∇·(k(T) ∇T) + f_u(T) [ω (T_a − T) + Q_m] + probe sources``, with
``T = T(H)`` per tissue (see :mod:`planning_core.thermal.tissues`) and the
unfrozen fraction ``f_u``. Space: 7-point finite volumes with harmonic-mean
face conductivities. Time: explicit RKL1 super-time-steps (see
:mod:`planning_core.thermal.stability`); the probe sources are refreshed once per
step from the sub-grid model (:mod:`planning_core.thermal.subgrid`) and scaled by
each probe's duty cycle in phases below full power (see
:mod:`planning_core.thermal.protocol`). Fixed-temperature regions (hydrodissection
fluid, skin packs: :mod:`planning_core.thermal.protection`) are inert voxels held
at their initial temperature.

Speed: the cost is voxels × stages, with stages ≈ duration · sqrt(λ_max / (0.8 Δt_max))
and ``λ_max ∝ 1/h²``, so it grows as ``1/h⁴`` with the spacing ``h``. The knobs are
``spacing_mm`` and ``margin_mm`` of :func:`planning_core.thermal.setup.build_setup`
(voxel count) and ``max_time_step_s`` here. Accuracy cost, measured on the
reference scenario (three argon-2.4 probes 15 mm apart, 10-8-10, soft tissue;
benchmarks/bench_thermal.py): on the 2 mm grid the 0 / -20 / -40 °C volumes are
-2.0 / +1.0 / +0.5 % off the 1 mm grid's, at 1/20 of the CPU time (0.22 s against
4.4 s on one core of the 2-core machine); isotherm radii lie within 0.7 mm of a
resolved probe at 2 mm and 0.5 mm at 1 mm (tests/numerics/test_line_probe.py); a
30 mm margin leaves the 0 °C volume about 1 % small against 45 mm (and cuts the
2 mm run to 0.14 s CPU). For an optimizer's inner loop use ``spacing_mm=2.0,
margin_mm=30.0`` and verify the final plan at 1 mm; for dragging use
:func:`planning_core.thermal.preview.preview_min_field` (about 20 ms).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.kernels import (
    PARAMETER_COLUMNS,
    build_chains,
    build_runs,
    interior_sum,
    rkl_step,
    row_pads,
    weighted_gather,
)
from planning_core.thermal.protocol import Phase, Protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import SimulationSetup
from planning_core.thermal.stability import (
    STAGE_SAFETY,
    rkl1_coefficients,
    rkl1_stages,
    stiffness_bound_per_s,
)
from planning_core.thermal.subgrid import ProbeCoupling, trilinear_stencil

#: Longest time step (s). Isotherm radii move < 0.1 mm against 1-s steps and the
#: reference-scenario volumes < 0.3 % (tests/numerics/test_line_probe.py).
DEFAULT_MAX_STEP_S = 10.0
#: Steps start at this length after every phase change and grow with the phase time.
MIN_STEP_S = 0.5
RAMP_FRACTION = 0.25
#: The box boundary may cool or warm by this much before the result carries a warning.
#: Two argon probes, 10-8-10, soft tissue: a drift of 4 °C left the 0 °C volume 1 % small,
#: one of 0.6 °C less than 0.1 %.
BOUNDARY_DRIFT_LIMIT_C = 1.5


#: Held by a step on several threads: numba's workqueue threading layer (the one left
#: where neither TBB nor OpenMP is installed) aborts the process when two threads launch
#: parallel kernels at once, and two such simulations would only share the cores anyway.
_PARALLEL_STEPS = threading.Lock()


def _parameter_table(setup: SimulationSetup) -> NDArray[np.float32]:
    rows = []
    for tissue in setup.tissues:
        rows.append(
            (
                tissue.solidus_c,
                1.0 / (tissue.liquidus_c - tissue.solidus_c),
                1.0 / tissue.heat_capacity_frozen_j_m3k,
                1.0 / tissue.mushy_heat_capacity_j_m3k,
                1.0 / tissue.heat_capacity_unfrozen_j_m3k,
                tissue.liquidus_enthalpy_j_m3,
                tissue.conductivity_frozen_w_mk,
                tissue.conductivity_unfrozen_w_mk - tissue.conductivity_frozen_w_mk,
                tissue.perfusion_w_m3k,
                tissue.arterial_temperature_c(setup.body_temperature_c),
                tissue.metabolic_w_m3,
            )
        )
    table = np.asarray(rows, dtype=np.float32)
    assert table.shape[1] == len(PARAMETER_COLUMNS)
    return table


class _Fields:
    """Padded solver state: three enthalpy buffers, two temperature and conductivity buffers."""

    def __init__(self, setup: SimulationSetup) -> None:
        nk, nj, ni = setup.geometry.shape
        self.padded_shape = (nk + 2, nj + 2, ni + 2)
        body = setup.body_temperature_c
        initial = (
            np.full(setup.geometry.shape, body, dtype=np.float64)
            if setup.initial_temperature_c is None
            else np.asarray(setup.initial_temperature_c, dtype=np.float64)
        )
        enthalpy = np.zeros(setup.geometry.shape)
        conductivity = np.zeros(setup.geometry.shape)
        for index, tissue in enumerate(setup.tissues):
            pick = setup.tissue_index == index
            enthalpy[pick] = tissue.enthalpy_j_m3(initial[pick])
            conductivity[pick] = tissue.conductivity_w_mk(initial[pick])
        temperature = np.pad(initial, 1, mode="constant", constant_values=body)
        conductivity = np.pad(conductivity, 1, mode="edge")
        for face in setup.insulated_faces:
            axis = {"i": 2, "j": 1, "k": 0}[face[0]]
            slicer = [slice(None)] * 3
            slicer[axis] = 0 if face[1] == "-" else -1
            conductivity[tuple(slicer)] = 0.0
        enthalpy = np.pad(enthalpy, 1, mode="edge")
        self.h = np.stack([enthalpy.astype(np.float32).ravel()] * 3)
        self.t = np.stack([temperature.astype(np.float32).ravel()] * 2)
        self.k = np.stack([conductivity.astype(np.float32).ravel()] * 2)
        #: Buffers holding the current state (see :func:`rkl_step`).
        self.h_current = 0
        self.t_current = 0
        self.t_min = temperature.astype(np.float32).ravel()
        self.pads = row_pads(self.padded_shape)
        self.pad_values = (self.h[0][self.pads], self.t[0][self.pads], self.k[0][self.pads])
        self.initial = initial

    @property
    def enthalpy(self) -> NDArray[np.float32]:
        return self.h[self.h_current]

    @property
    def temperature(self) -> NDArray[np.float32]:
        return self.t[self.t_current]

    def interior(self, flat: NDArray[np.float32]) -> NDArray[np.float32]:
        return flat.reshape(self.padded_shape)[1:-1, 1:-1, 1:-1].copy()


@dataclass
class _ProbeDrive:
    """What each probe does during one step.

    ``power_fraction`` is the duty cycle of each probe (0-1), or ``None`` at
    full power, where the extraction is left unscaled (bit-identical to runs
    from before duty cycles existed).
    """

    wall_c: NDArray[np.float64]
    fixed_w_m: NDArray[np.float64]
    power_fraction: NDArray[np.float64] | None = None


def _drive(setup: SimulationSetup, phase: Phase, time_in_phase_s: float) -> _ProbeDrive:
    count = len(setup.probes)
    wall = np.full(count, np.nan)
    fixed = np.zeros(count)
    power = None if phase.full_power else np.zeros(count)
    for index, probe in enumerate(setup.probes):
        if not phase.drives(index) or phase.kind == "passive_thaw":
            continue
        if power is not None:
            power[index] = phase.power_fraction(index)
            if power[index] == 0.0:
                # 0 % is off, as in a passive thaw: no exchange at all.
                continue
        model = probe.model
        if phase.kind == "active_thaw":
            wall[index] = model.active_thaw_wall_c
        elif model.boundary == "heat_extraction":
            fixed[index] = model.heat_extraction_w_m
        else:
            wall[index] = model.wall_temperature_c(
                time_in_phase_s, start_c=setup.body_temperature_c
            )
    return _ProbeDrive(wall, fixed, power)


def _record_schedule(times_s: Sequence[float], total_s: float) -> list[float]:
    schedule = sorted({float(t) for t in times_s})
    for t in schedule:
        if not (0.0 <= t <= total_s + 1e-9):
            raise InvalidParameterError(
                f"record time {t} s lies outside the protocol (0 .. {total_s:.0f} s)."
            )
    return schedule


def simulate(
    setup: SimulationSetup,
    protocol: Protocol,
    *,
    record_times_s: Sequence[float] = (),
    record_points_lps: ArrayLike | None = None,
    isotherms_c: Sequence[float] = (0.0, -20.0, -40.0),
    max_time_step_s: float = DEFAULT_MAX_STEP_S,
    stage_safety: float = STAGE_SAFETY,
    threads: int = 1,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SimulationResult:
    """Run a freeze-thaw protocol on a set-up.

    Parameters
    ----------
    setup : SimulationSetup
        Grid, tissues and probes (see :func:`planning_core.thermal.setup.build_setup`).
    protocol : Protocol
        Phases; their probe indices refer to ``setup.probes``.
    record_times_s : sequence of float
        Times at which the whole temperature field is kept.
    record_points_lps : array_like, shape (n, 3), optional
        Points (LPS mm) whose temperature is recorded after every step.
    isotherms_c : sequence of float
        Isotherms whose volumes the result reports (on the minimum temperature).
    max_time_step_s : float
        Longest time step; steps are shorter after each phase change.
    stage_safety : float
        Fraction of the RKL1 stability interval used (``(0, 1]``).
    threads : int
        Threads sharing each stage, each on a slab of whole k-planes. One by
        default: on a 2-core machine shared with other work the barrier at the end
        of every stage costs more than the second core gains
        (benchmarks/bench_thermal.py prints both); the optimizer's 1-mm
        verification, alone on the machine's cores, takes them all. The result
        does not depend on it. Steps on several threads run one simulation at a
        time (:data:`_PARALLEL_STEPS`).
    progress, cancel
        Progress callback and cancel token, polled every step.

    Returns
    -------
    SimulationResult

    Raises
    ------
    InvalidParameterError
        For a protocol that drives probes the set-up lacks, or bad options.
    OperationCancelledError
        When ``cancel`` is triggered.
    """
    started = time.perf_counter()
    if not (math.isfinite(max_time_step_s) and max_time_step_s > 0):
        raise InvalidParameterError(f"max_time_step_s must be positive, got {max_time_step_s!r}.")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidParameterError(f"threads must be a positive integer, got {threads!r}.")
    for phase in protocol.phases:
        if phase.probes is not None and any(p >= len(setup.probes) for p in phase.probes):
            raise InvalidParameterError(
                f"protocol phase {phase.code} drives probe {max(phase.probes) + 1} but the "
                f"set-up has {len(setup.probes)} probe(s)."
            )
        power = phase.power_percent
        if isinstance(power, tuple) and len(power) != len(setup.probes):
            raise InvalidParameterError(
                f"protocol phase {phase.code} gives the power of {len(power)} probe(s) but "
                f"the plan has {len(setup.probes)}; give one percentage per probe or one "
                "for all (e.g. F10@50)."
            )
    schedule = _record_schedule(record_times_s, protocol.duration_s)
    fields = _Fields(setup)
    params = _parameter_table(setup)
    inert = np.array([t.inert for t in setup.tissues], dtype=np.bool_)
    tissue_padded = np.pad(setup.tissue_index, 1, mode="edge")
    chains = build_chains(*build_runs(tissue_padded, inert), fields.padded_shape)
    slab_chains = _slab_chains(chains, fields.padded_shape, threads)
    coupling = ProbeCoupling.build(setup)
    spacing_m = setup.geometry.spacing_mm * 1e-3
    face = (2.0 / spacing_m**2).astype(np.float32)
    _, nj2, ni2 = fields.padded_shape
    strides = (np.uint64(ni2), np.uint64(ni2 * nj2))
    stiffness = stiffness_bound_per_s(setup.tissues, setup.geometry.spacing_mm)
    updated_voxels = int(np.count_nonzero(~inert[setup.tissue_index]))

    points = None if record_points_lps is None else np.asarray(record_points_lps, float)
    point_stencil = None
    if points is not None and points.size:
        indices, weights, _ = trilinear_stencil(setup.geometry, points.reshape(-1, 3), clamp=False)
        point_stencil = (indices, weights)
    history_times = [0.0]
    history = [weighted_gather(fields.temperature, *point_stencil)] if point_stencil else []
    snapshots: dict[float, NDArray[np.float32]] = {}
    if schedule and schedule[0] == 0.0:
        snapshots[0.0] = fields.interior(fields.temperature)

    initial_enthalpy = interior_sum(fields.enthalpy, fields.padded_shape)
    probe_energy = np.zeros(len(setup.probes))
    power_times, power_rows = [], []
    steps = stages_total = 0
    now = 0.0
    total = protocol.duration_s
    for phase_number, (phase, phase_start) in enumerate(
        zip(protocol.phases, protocol.phase_starts_s(), strict=True)
    ):
        in_phase = 0.0
        while in_phase < phase.duration_s - 1e-9:
            if cancel is not None:
                cancel.raise_if_cancelled()
            step = min(max_time_step_s, max(MIN_STEP_S, RAMP_FRACTION * in_phase))
            step = min(step, phase.duration_s - in_phase)
            upcoming = [t for t in schedule if t > now + 1e-9]
            if upcoming:
                step = min(step, upcoming[0] - now)
            drive = _drive(setup, phase, in_phase + 0.5 * step)
            extraction = coupling.extraction_w_m(
                setup, fields.temperature, drive.wall_c, drive.fixed_w_m
            )
            if drive.power_fraction is not None:
                # Duty cycle: the time average of an on/off cycle much shorter than a step.
                extraction = extraction * drive.power_fraction[coupling.sample_probe]
            density = coupling.power_density_w_m3(extraction)
            sample_power = extraction * coupling.sample_length_m
            probe_power = np.bincount(
                coupling.sample_probe, weights=sample_power, minlength=len(setup.probes)
            )
            probe_energy += probe_power * step
            power_times.append(now + step)
            power_rows.append(probe_power)
            stages = rkl1_stages(step, stiffness, safety=stage_safety)
            with _PARALLEL_STEPS if len(slab_chains) > 2 else nullcontext():
                rkl_step(
                    fields.h, fields.t, fields.k, fields.t_min, fields.h_current,
                    fields.t_current, np.asarray(rkl1_coefficients(stages)), step, face,
                    *strides, *chains, fields.pads, *fields.pad_values, coupling.voxels,
                    coupling.voxel_tissue, density, params, slab_chains,
                )  # fmt: skip
            fields.h_current = (fields.h_current + stages) % 3
            fields.t_current = (fields.t_current + stages) % 2
            steps += 1
            stages_total += stages
            in_phase += step
            now = phase_start + in_phase
            if point_stencil:
                history_times.append(now)
                history.append(weighted_gather(fields.temperature, *point_stencil))
            for t in schedule:
                if abs(t - now) < 1e-6 and t not in snapshots:
                    snapshots[t] = fields.interior(fields.temperature)
            if progress is not None:
                progress(
                    now / total,
                    # Whole minutes, so that a log gets one line per simulated minute.
                    f"phase {phase_number + 1}/{len(protocol.phases)} ({phase.kind}): "
                    f"minute {int(now // 60)} of {total / 60:g}",
                )
    final_enthalpy = interior_sum(fields.enthalpy, fields.padded_shape)
    voxel_volume_m3 = setup.geometry.voxel_volume_mm3 * 1e-9
    min_temperature = fields.interior(fields.t_min)
    final_temperature = fields.interior(fields.temperature)
    drift = _boundary_drift_c(setup, fields.initial, min_temperature, final_temperature)
    warnings = list(setup.warnings)
    if drift > BOUNDARY_DRIFT_LIMIT_C:
        # Worded for users: "margin" alone would read as the ablative margin.
        warnings.append(
            f"the simulation box is too small for protocol {protocol.code}: its edge changed "
            f"by {drift:.2f} °C (limit {BOUNDARY_DRIFT_LIMIT_C:g} °C), so the iceball may be "
            "underestimated; enlarge the simulation box margin around the probes "
            "(--box-margin-mm) for a trustworthy iceball."
        )
    return SimulationResult(
        geometry=setup.geometry,
        protocol=protocol,
        probes=setup.probes,
        min_temperature_c=min_temperature,
        final_temperature_c=final_temperature,
        snapshots_c=snapshots,
        point_times_s=np.asarray(history_times),
        point_temperatures_c=(
            np.stack(history, axis=1) if history else np.zeros((0, len(history_times)))
        ),
        isotherms_c=tuple(float(t) for t in isotherms_c),
        probe_power_times_s=np.asarray(power_times),
        probe_power_w=np.asarray(power_rows, dtype=np.float64).reshape(
            len(power_rows), len(setup.probes)
        ),
        probe_energy_j=probe_energy,
        enthalpy_change_j=float((final_enthalpy - initial_enthalpy) * voxel_volume_m3),
        boundary_drift_c=drift,
        body_temperature_c=setup.body_temperature_c,
        steps=steps,
        stages=stages_total,
        voxel_updates=stages_total * updated_voxels,
        wall_s=time.perf_counter() - started,
        warnings=tuple(warnings),
    )


def _slab_chains(
    chains: tuple[NDArray, ...], padded_shape: tuple[int, int, int], threads: int
) -> NDArray[np.int64]:
    """Chain index bounds of ``threads`` slabs of whole k-planes with about equal voxel counts.

    Chains never cross planes, so every slab writes its own planes only.
    """
    start, stop = chains[0], chains[1]
    plane = start // np.uint64(padded_shape[1] * padded_shape[2])
    voxels_before = np.concatenate([[0], np.cumsum((stop - start).astype(np.int64))])
    # The first span of each plane is a possible cut; take those nearest the equal shares.
    cuts = np.flatnonzero(np.diff(plane, prepend=plane[:1] - 1) != 0) if len(plane) else []
    bounds = [0]
    for share in range(1, threads):
        target = voxels_before[-1] * share / threads
        best = min(cuts, key=lambda cut: abs(voxels_before[cut] - target), default=0)
        if bounds[-1] < best < len(start):
            bounds.append(int(best))
    bounds.append(len(start))
    return np.asarray(bounds, dtype=np.int64)


def _boundary_drift_c(
    setup: SimulationSetup,
    initial: NDArray[np.float64],
    min_temperature: NDArray[np.float32],
    final_temperature: NDArray[np.float32],
) -> float:
    """Largest change of the outermost voxel layer on the held (non-insulated) faces."""
    drift = 0.0
    for face in ("i-", "i+", "j-", "j+", "k-", "k+"):
        if face in setup.insulated_faces:
            continue
        axis = {"i": 2, "j": 1, "k": 0}[face[0]]
        index = 0 if face[1] == "-" else -1
        layer = [
            np.take(a, index, axis=axis) for a in (initial, min_temperature, final_temperature)
        ]
        cooled = float(np.max(layer[0] - layer[1]))
        warmed = float(np.max(np.abs(layer[2] - layer[0])))
        drift = max(drift, cooled, warmed)
    return drift
