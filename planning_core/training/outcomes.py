"""Ablation outcomes in the case library: what a plan predicted and what came out.

``cryoplan confirm --post ... --record`` stores, per plan and post-ablation
series, the plan's predicted lethal zone against the ablation zone found on the
post-ablation CT (volumes, mean signed surface residual, Dice, the isotherm
whose volume matched best) with the probe models and protocol behind the
prediction and the minimal ablative margin. Rows collected over real cases are
what a later calibration of the probe models fits to: ``cryoplan library
outcomes --csv FILE`` exports them. Recording the same plan and series again
replaces its row, so a confirmation re-run after an edit of the zone counts once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from planning_core.atomic import write_text_atomic
from planning_core.confirm.post import PostConfirmation
from planning_core.errors import ConfirmationError
from planning_core.training.database import write_transaction
from planning_core.training.library import utc_now


@dataclass(frozen=True)
class Outcome:
    """One plan's prediction against one post-ablation CT."""

    plan_sha256: str
    post_series_uid: str
    plan_path: str
    organ_site: str | None
    probe_models: tuple[str, ...]
    protocol: str
    lethal_isotherm_c: float
    predicted_volume_ml: float
    actual_volume_ml: float
    mean_signed_residual_mm: float
    dice: float
    best_matching_isotherm_c: float | None
    minimal_ablative_margin_mm: float
    registration_method: str
    recorded_at: str = ""

    @property
    def volume_residual_ml(self) -> float:
        """Actual minus predicted zone volume."""
        return self.actual_volume_ml - self.predicted_volume_ml

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["probe_models"] = list(self.probe_models)
        row["volume_residual_ml"] = round(self.volume_residual_ml, 3)
        return row


def plan_file_sha256(path: str | Path) -> str:
    """The plan file's content hash: one plan, wherever its file was copied."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def outcome_of(result: PostConfirmation) -> Outcome:
    """The outcome of a post-ablation confirmation.

    Raises
    ------
    ConfirmationError
        When the confirmation holds no prediction to compare (the plan could
        not be simulated) or the post-ablation CT has no series UID.
    """
    comparison = result.plan_vs_result
    if comparison is None:
        raise ConfirmationError(
            f"{result.plan_path}: the plan's zone could not be predicted, so there is no "
            "outcome to record (--record needs a plan that `cryoplan evaluate` simulates)."
        )
    series_uid = str(result.post_on_planning.metadata.get("series_instance_uid") or "")
    if not series_uid:
        raise ConfirmationError(
            f"--post {result.post_ct_path}: the image has no DICOM series UID to record the "
            "outcome under; give the DICOM series rather than a volume file."
        )
    return Outcome(
        plan_sha256=plan_file_sha256(result.plan_path),
        post_series_uid=series_uid,
        plan_path=str(result.plan_path),
        organ_site=result.plan.settings.organ_site,
        probe_models=tuple(probe.model_id for probe in result.plan.probes),
        protocol=str(result.plan.protocol),
        lethal_isotherm_c=float(comparison.lethal_isotherm_c),
        predicted_volume_ml=round(float(comparison.predicted_volume_ml), 3),
        actual_volume_ml=round(float(comparison.actual_volume_ml), 3),
        mean_signed_residual_mm=round(float(comparison.mean_signed_residual_mm), 2),
        dice=round(float(comparison.dice), 3),
        best_matching_isotherm_c=comparison.best_matching_isotherm_c,
        minimal_ablative_margin_mm=round(float(result.minimal_margin_mm), 2),
        registration_method=result.registration.method,
    )


def record_outcome(connection: sqlite3.Connection, outcome: Outcome) -> Outcome:
    """Store ``outcome`` (replacing the row of the same plan and series); returns it with
    the time it was recorded."""
    stored = Outcome(**{**asdict(outcome), "recorded_at": utc_now()})
    with write_transaction(connection):
        connection.execute(
            "INSERT OR REPLACE INTO outcomes (plan_sha256, post_series_uid, plan_path, "
            "organ_site, probe_models, protocol, lethal_isotherm_c, predicted_volume_ml, "
            "actual_volume_ml, mean_signed_residual_mm, dice, best_matching_isotherm_c, "
            "minimal_ablative_margin_mm, registration_method, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stored.plan_sha256, stored.post_series_uid, stored.plan_path,
                stored.organ_site, json.dumps(list(stored.probe_models)),
                stored.protocol, stored.lethal_isotherm_c,
                stored.predicted_volume_ml, stored.actual_volume_ml,
                stored.mean_signed_residual_mm, stored.dice, stored.best_matching_isotherm_c,
                stored.minimal_ablative_margin_mm, stored.registration_method,
                stored.recorded_at,
            ),
        )  # fmt: skip
    return stored


def list_outcomes(connection: sqlite3.Connection) -> tuple[Outcome, ...]:
    """Every recorded outcome, oldest first."""
    rows = connection.execute("SELECT * FROM outcomes ORDER BY recorded_at, id").fetchall()
    return tuple(
        Outcome(
            plan_sha256=row["plan_sha256"],
            post_series_uid=row["post_series_uid"],
            plan_path=row["plan_path"],
            organ_site=row["organ_site"],
            probe_models=tuple(json.loads(row["probe_models"])),
            protocol=row["protocol"],
            lethal_isotherm_c=row["lethal_isotherm_c"],
            predicted_volume_ml=row["predicted_volume_ml"],
            actual_volume_ml=row["actual_volume_ml"],
            mean_signed_residual_mm=row["mean_signed_residual_mm"],
            dice=row["dice"],
            best_matching_isotherm_c=row["best_matching_isotherm_c"],
            minimal_ablative_margin_mm=row["minimal_ablative_margin_mm"],
            registration_method=row["registration_method"],
            recorded_at=row["recorded_at"],
        )
        for row in rows
    )


#: Columns of the CSV export, in order.
CSV_COLUMNS = (
    "recorded_at", "plan_path", "plan_sha256", "post_series_uid", "organ_site", "probe_models",
    "protocol", "lethal_isotherm_c", "predicted_volume_ml", "actual_volume_ml",
    "volume_residual_ml", "mean_signed_residual_mm", "dice", "best_matching_isotherm_c",
    "minimal_ablative_margin_mm", "registration_method",
)  # fmt: skip


def write_outcomes_csv(outcomes: tuple[Outcome, ...], path: str | Path) -> Path:
    """Write ``outcomes`` as CSV (probe models joined by ``;``)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for outcome in outcomes:
        row = outcome.as_dict()
        row["probe_models"] = ";".join(outcome.probe_models)
        writer.writerow({key: row[key] for key in CSV_COLUMNS})
    path = Path(path)
    write_text_atomic(path, text.getvalue())
    return path
