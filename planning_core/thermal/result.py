"""What a simulation returns: temperature fields on the simulation grid and isotherm helpers.

The lethal dose of a voxel is the minimum temperature it reached, so isotherms
default to the minimum-temperature field: the ``-40 °C`` isotherm encloses
every voxel that was at or below -40 °C at some time.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from skimage import measure

from planning_core.atomic import atomic_path
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import is_volume_file, write_volume
from planning_core.thermal.probes import PlacedProbe, ProbeModel
from planning_core.thermal.protocol import Phase, Protocol

FieldName = Literal["min", "final"]
#: The ice edge seen on CT or ultrasound: tissue at or below it is frozen (°C).
ICE_EDGE_C = 0.0
FIELDS_FILE_FORMAT = "cryoplan-thermal-fields"
FIELDS_FILE_VERSION = 1


@dataclass(eq=False)
class SimulationResult:
    """Fields and diagnostics of one simulation (arrays ``[k, j, i]`` on ``geometry``).

    Attributes
    ----------
    geometry : Geometry
        The simulation grid (axis-aligned LPS box).
    min_temperature_c, final_temperature_c : ndarray of float32
        Lowest temperature each voxel reached, and the temperature at the end.
    snapshots_c : dict
        Whole fields at the requested record times (s).
    point_times_s, point_temperatures_c : ndarrays
        Times of the point history and the temperatures, one row per point.
    probe_power_times_s, probe_power_w : ndarrays
        End time of each step and each probe's extracted power during it.
    probe_energy_j : ndarray
        Heat each probe removed (negative: added).
    enthalpy_change_j : float
        Change of the grid's total enthalpy (energy-balance check).
    boundary_drift_c : float
        Largest change of the box's outermost voxel layer.
    steps, stages, voxel_updates : int
        Time steps, stencil evaluations, and voxel updates done.
    wall_s : float
        Wall-clock time of the run.
    warnings : tuple of str
    """

    geometry: Geometry
    protocol: Protocol
    probes: tuple[PlacedProbe, ...]
    min_temperature_c: NDArray[np.float32]
    final_temperature_c: NDArray[np.float32]
    snapshots_c: dict[float, NDArray[np.float32]]
    point_times_s: NDArray[np.float64]
    point_temperatures_c: NDArray[np.float64]
    isotherms_c: tuple[float, ...]
    probe_power_times_s: NDArray[np.float64]
    probe_power_w: NDArray[np.float64]
    probe_energy_j: NDArray[np.float64]
    enthalpy_change_j: float
    boundary_drift_c: float
    body_temperature_c: float
    steps: int
    stages: int
    voxel_updates: int
    wall_s: float
    warnings: tuple[str, ...] = field(default=())

    # -- fields ---------------------------------------------------------------------------
    def field(self, which: FieldName | float = "min") -> NDArray[np.float32]:
        """``"min"``, ``"final"``, or a recorded time (s)."""
        if which == "min":
            return self.min_temperature_c
        if which == "final":
            return self.final_temperature_c
        try:
            return self.snapshots_c[float(which)]
        except (KeyError, TypeError, ValueError):
            raise InvalidParameterError(
                f"field must be 'min', 'final' or a recorded time "
                f"({', '.join(f'{t:g}' for t in self.snapshots_c) or 'none recorded'}); "
                f"got {which!r}."
            ) from None

    def temperature_at(
        self, points_lps_mm: ArrayLike, *, which: FieldName | float = "min"
    ) -> NDArray[np.float64]:
        """Trilinear temperature at LPS points; body temperature outside the grid."""
        points = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
        ijk = self.geometry.lps_to_index(points)
        return ndimage.map_coordinates(
            self.field(which).astype(np.float64),
            ijk[:, ::-1].T,
            order=1,
            mode="constant",
            cval=self.body_temperature_c,
        )

    def resampled(
        self, geometry: Geometry, *, which: FieldName | float = "min"
    ) -> NDArray[np.float32]:
        """The field trilinearly resampled onto another grid (body temperature outside)."""
        target = np.full(geometry.shape, self.body_temperature_c, dtype=np.float32)
        ranges = _covered_index_ranges(geometry, self.geometry)
        if ranges is None:
            return target
        (k0, k1), (j0, j1), (i0, i1) = ranges
        k, j, i = np.meshgrid(
            np.arange(k0, k1), np.arange(j0, j1), np.arange(i0, i1), indexing="ij"
        )
        ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(np.float64)
        values = self.temperature_at(geometry.index_to_lps(ijk), which=which)
        target[k0:k1, j0:j1, i0:i1] = values.reshape(k.shape)
        return target

    # -- isotherms --------------------------------------------------------------------------
    def isotherm_mask(
        self,
        temperature_c: float,
        *,
        which: FieldName | float = "min",
        geometry: Geometry | None = None,
    ) -> NDArray[np.bool_]:
        """Voxels at or below ``temperature_c``, on the simulation grid or on ``geometry``."""
        values = self.field(which) if geometry is None else self.resampled(geometry, which=which)
        return values <= temperature_c

    def isotherm_surface(
        self, temperature_c: float, *, which: FieldName | float = "min"
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Triangle mesh of an isotherm: vertices (LPS mm) and faces (vertex indices)."""
        values = self.field(which)
        box = _bounding_box(values <= temperature_c)
        if box is None:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        block = values[box].astype(np.float64)
        block = np.pad(
            block,
            1,
            mode="constant",
            constant_values=max(temperature_c + 1.0, self.body_temperature_c),
        )
        vertices_kji, faces, _, _ = measure.marching_cubes(block, level=temperature_c)
        offset = np.array([s.start for s in box], dtype=np.float64) - 1.0
        ijk = (vertices_kji + offset)[:, ::-1]
        return self.geometry.index_to_lps(ijk), faces.astype(np.int64)

    def isotherm_volume_ml(
        self, temperature_c: float, *, which: FieldName | float = "min"
    ) -> float:
        """Volume enclosed by an isotherm (marching-cubes mesh, sub-voxel accurate)."""
        vertices, faces = self.isotherm_surface(temperature_c, which=which)
        if len(faces) == 0:
            return 0.0
        a, b, c = (vertices[faces[:, n]] for n in range(3))
        signed = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0
        return abs(float(signed)) / 1000.0

    @cached_property
    def isotherm_volumes_ml(self) -> dict[float, float]:
        """Volume of each requested isotherm on the minimum-temperature field."""
        return {t: self.isotherm_volume_ml(t) for t in self.isotherms_c}

    # -- saving ---------------------------------------------------------------------------
    def _metadata(self) -> dict[str, object]:
        return {
            "format": FIELDS_FILE_FORMAT,
            "version": FIELDS_FILE_VERSION,
            "protocol": self.protocol.to_dict(),
            "probes": [
                {
                    "model": dataclasses.asdict(probe.model),
                    "tip_lps_mm": probe.tip_lps_mm.tolist(),
                    "entry_lps_mm": probe.entry_lps_mm.tolist(),
                }
                for probe in self.probes
            ],
            "isotherms_c": list(self.isotherms_c),
            "body_temperature_c": self.body_temperature_c,
            "enthalpy_change_j": self.enthalpy_change_j,
            "boundary_drift_c": self.boundary_drift_c,
            "steps": self.steps,
            "stages": self.stages,
            "voxel_updates": self.voxel_updates,
            "wall_s": self.wall_s,
            "warnings": list(self.warnings),
        }

    def save_fields(self, path: str | Path) -> Path:
        """Save the fields: ``.npz`` (all fields + geometry) or a volume file (minimum field).

        NIfTI/NRRD/MetaImage files hold the minimum temperature; a sibling file
        with ``_final`` before the suffix holds the final temperature.
        """
        path = Path(path)
        if path.suffix.lower() == ".npz":
            payload = {
                "metadata": np.array(json.dumps(self._metadata())),
                "min_temperature_c": self.min_temperature_c,
                "final_temperature_c": self.final_temperature_c,
                "spacing_mm": self.geometry.spacing_mm,
                "origin_lps_mm": self.geometry.origin_lps_mm,
                "direction": self.geometry.direction,
                "point_times_s": self.point_times_s,
                "point_temperatures_c": self.point_temperatures_c,
                "probe_power_times_s": self.probe_power_times_s,
                "probe_power_w": self.probe_power_w,
                "probe_energy_j": self.probe_energy_j,
                "snapshot_times_s": np.array(sorted(self.snapshots_c), dtype=np.float64),
            }
            for number, time_s in enumerate(sorted(self.snapshots_c)):
                payload[f"snapshot_{number}"] = self.snapshots_c[time_s]
            with atomic_path(path) as staging, open(staging, "wb") as handle:
                np.savez_compressed(handle, **payload)
            return path
        if not is_volume_file(path):
            raise InvalidParameterError(
                f"{path}: save the fields as .npz, .nii.gz, .nii, .nrrd or .mha."
            )
        write_volume(Volume(self.min_temperature_c, self.geometry, "OT"), path)
        name = path.name
        for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
            if name.lower().endswith(suffix):
                final_path = path.with_name(name[: -len(suffix)] + "_final" + name[-len(suffix) :])
                write_volume(Volume(self.final_temperature_c, self.geometry, "OT"), final_path)
                break
        return path


def load_result_fields(path: str | Path) -> SimulationResult:
    """Read a result written by :meth:`SimulationResult.save_fields` as ``.npz``.

    The probe models are restored from the file (not from the probe library),
    so a result stays readable after the library changes.

    Raises
    ------
    PlanningError
        When the file is missing, not an ``.npz`` written by ``save_fields``, or damaged.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise PlanningError(f"{path}: cannot read the simulation fields ({error}).") from None
    try:
        meta = json.loads(str(arrays["metadata"]))
        if meta.get("format") != FIELDS_FILE_FORMAT:
            raise KeyError("format")
        if int(meta["version"]) > FIELDS_FILE_VERSION:
            raise PlanningError(
                f"{path}: simulation fields version {meta['version']} is newer than this "
                f"program reads ({FIELDS_FILE_VERSION}); update cryoplan."
            )
        minimum = arrays["min_temperature_c"]
        geometry = Geometry(
            minimum.shape, arrays["spacing_mm"], arrays["origin_lps_mm"], arrays["direction"]
        )
        protocol_meta = meta["protocol"]
        protocol = Protocol(
            tuple(Phase.from_dict(phase) for phase in protocol_meta["phases"]),
            str(protocol_meta.get("name", "")),
        )
        probes = tuple(
            PlacedProbe(
                ProbeModel(**entry["model"]),
                np.asarray(entry["tip_lps_mm"], dtype=np.float64),
                np.asarray(entry["entry_lps_mm"], dtype=np.float64),
            )
            for entry in meta["probes"]
        )
        snapshots = {
            float(time_s): arrays[f"snapshot_{number}"]
            for number, time_s in enumerate(arrays["snapshot_times_s"])
        }
        return SimulationResult(
            geometry=geometry,
            protocol=protocol,
            probes=probes,
            min_temperature_c=minimum,
            final_temperature_c=arrays["final_temperature_c"],
            snapshots_c=snapshots,
            point_times_s=arrays["point_times_s"],
            point_temperatures_c=arrays["point_temperatures_c"],
            isotherms_c=tuple(float(t) for t in meta["isotherms_c"]),
            probe_power_times_s=arrays["probe_power_times_s"],
            probe_power_w=arrays["probe_power_w"],
            probe_energy_j=arrays["probe_energy_j"],
            enthalpy_change_j=float(meta["enthalpy_change_j"]),
            boundary_drift_c=float(meta["boundary_drift_c"]),
            body_temperature_c=float(meta["body_temperature_c"]),
            steps=int(meta["steps"]),
            stages=int(meta["stages"]),
            voxel_updates=int(meta["voxel_updates"]),
            wall_s=float(meta["wall_s"]),
            warnings=tuple(str(w) for w in meta["warnings"]),
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
        raise PlanningError(
            f"{path}: not a simulation fields file written by cryoplan (bad or missing "
            f"{error}); re-run the simulation."
        ) from None


def _bounding_box(mask: NDArray[np.bool_]) -> tuple[slice, ...] | None:
    if not mask.any():
        return None
    slices = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        slices.append(slice(max(int(hits[0]) - 1, 0), min(int(hits[-1]) + 2, mask.shape[axis])))
    return tuple(slices)


def _covered_index_ranges(target: Geometry, source: Geometry) -> tuple[tuple[int, int], ...] | None:
    """``(k, j, i)`` index ranges of ``target`` voxels that may lie inside ``source``."""
    corners = target.lps_to_index(source.corners_lps())
    low = np.floor(corners.min(axis=0)).astype(int) - 1
    high = np.ceil(corners.max(axis=0)).astype(int) + 2
    size = np.asarray(target.size_ijk)
    low = np.clip(low, 0, size)
    high = np.clip(high, 0, size)
    if np.any(high <= low):
        return None
    return tuple((int(low[a]), int(high[a])) for a in (2, 1, 0))
