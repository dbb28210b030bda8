"""The cohort manifest: a CSV file with a row per case to plan.

Columns: ``case`` (a DICOM folder, a volume file or a sample case name), exactly one
of ``tumor_seed`` (``X,Y,Z`` in LPS mm) or ``labels`` (a label map with a tumor),
an optional ``id`` naming the row's results, and any of ``cryoplan plan``'s options
as columns (``max_probes``, ``margin_mm``, ``goal`` ...; an empty cell keeps the
default). Relative paths are read from the manifest's folder. This module checks
the table's shape; the option values are checked by whoever plans the rows
(``cryoplan batch`` with the plan command's rules), through :func:`row_error`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from planning_core.errors import InvalidParameterError
from planning_core.imaging.case_sources import resolve_case
from planning_core.input_files import read_bytes_bounded

#: Columns with a meaning of their own; every other column is a plan option.
CASE_COLUMN = "case"
SEED_COLUMN = "tumor_seed"
LABELS_COLUMN = "labels"
ID_COLUMN = "id"
#: Largest manifest read (a row is some 100 bytes; a cohort of 100,000 cases fits).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: How many row problems one message lists before it says how many more there are.
_LISTED_PROBLEMS = 5


@dataclass(frozen=True)
class CohortCase:
    """One manifest row, its paths resolved.

    Attributes
    ----------
    case_id : str
        Names the row's folder and result row (``id`` column, else from ``case``).
    row : int
        Line of the row in the manifest (the header is line 1), for messages.
    case : str
        What to plan: an absolute path, or a sample case name as written.
    tumor_seed : str or None
        ``X,Y,Z`` in LPS mm as written, or None with ``labels``.
    labels : str or None
        Absolute path of the label map, or None with ``tumor_seed``.
    options : dict of str to str
        The other non-empty cells by column name (plan options, unparsed).
    manifest : str
        The manifest file, for messages.
    """

    case_id: str
    row: int
    case: str
    tumor_seed: str | None
    labels: str | None
    options: dict[str, str] = field(default_factory=dict)
    manifest: str = ""

    def fingerprint(self) -> str:
        """A digest of what is planned: a finished result counts only for the same inputs."""
        payload = json.dumps(
            [self.case, self.tumor_seed, self.labels, sorted(self.options.items())]
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def row_error(case: CohortCase, column: str, message: str) -> InvalidParameterError:
    """An error naming the manifest, the row and the column a user must change."""
    return InvalidParameterError(
        f"MANIFEST {case.manifest}: row {case.row}, column {column}: {message}"
    )


def read_manifest(path: str | Path) -> list[CohortCase]:
    """Read and check a manifest; every problem found is named by its row and column.

    Raises
    ------
    InvalidParameterError
        When the file cannot be read, a column is missing, a row names no case, gives
        both or neither of ``tumor_seed`` and ``labels``, names a file or sample case
        that does not exist, or two rows share an id.
    """
    path = Path(path)
    data = read_bytes_bounded(
        path, what="manifest", max_bytes=MAX_MANIFEST_BYTES, error=InvalidParameterError,
        hint="Give MANIFEST as a CSV file with a row per case.",
    )  # fmt: skip
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidParameterError(
            f"MANIFEST {path}: not UTF-8 text; save the manifest as a UTF-8 CSV file."
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))  # quoted cells may span lines
    columns = [name.strip() for name in reader.fieldnames or []]
    if CASE_COLUMN not in columns or not {SEED_COLUMN, LABELS_COLUMN} & set(columns):
        raise InvalidParameterError(
            f"MANIFEST {path}: the first line must name the columns, with '{CASE_COLUMN}' and "
            f"'{SEED_COLUMN}' or '{LABELS_COLUMN}' (found: {', '.join(columns) or 'none'})."
        )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise InvalidParameterError(
            f"MANIFEST {path}: column {', '.join(duplicated)} appears twice; keep one."
        )
    cases: list[CohortCase] = []
    problems: list[str] = []
    for line, record in enumerate(reader, start=2):
        if None in record:  # more cells than columns
            problems.append(f"row {line}: more cells than the {len(columns)} columns named")
            continue
        cells = {name.strip(): (value or "").strip() for name, value in record.items() if name}
        if not any(cells.values()):
            continue  # a blank line
        try:
            cases.append(_read_row(cells, line, path))
        except InvalidParameterError as error:
            problems.append(str(error))
    if not cases and not problems:
        problems.append("no rows: add a row per case")
    ids: dict[str, int] = {}
    for case in cases:
        if case.case_id in ids:
            problems.append(
                f"row {case.row}: id {case.case_id!r} is also row {ids[case.case_id]}'s; "
                f"add an '{ID_COLUMN}' column to tell the rows apart"
            )
        ids.setdefault(case.case_id, case.row)
    if problems:
        more = len(problems) - _LISTED_PROBLEMS
        listed = "; ".join(problems[:_LISTED_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise InvalidParameterError(f"MANIFEST {path}: {listed}.")
    return cases


def _read_row(cells: dict[str, str], line: int, manifest: Path) -> CohortCase:
    where = f"row {line}"
    text = cells.get(CASE_COLUMN, "")
    if not text:
        raise InvalidParameterError(f"{where}, column {CASE_COLUMN}: empty; name the case")
    seed = cells.get(SEED_COLUMN) or None
    labels = cells.get(LABELS_COLUMN) or None
    if (seed is None) == (labels is None):
        raise InvalidParameterError(
            f"{where}: give exactly one of column {SEED_COLUMN} (X,Y,Z in LPS mm) or column "
            f"{LABELS_COLUMN} (a label map with the tumor)"
        )
    case = _from_manifest_folder(text, manifest)
    labels = None if labels is None else _from_manifest_folder(labels, manifest)
    # The case source's own check: an existing path or a known sample case name.
    resolve_case(
        case,
        labels_path=labels,
        case_option=f"{where}, column {CASE_COLUMN}:",
        labels_option=f"{where}, column {LABELS_COLUMN}:",
    )
    case_id = cells.get(ID_COLUMN) or _slug(Path(text).name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", case_id):
        raise InvalidParameterError(
            f"{where}, column {ID_COLUMN}: {case_id!r} must be letters, digits, '.', '_' or "
            "'-' (at most 80), as it names the case's folder"
        )
    reserved = {CASE_COLUMN, SEED_COLUMN, LABELS_COLUMN, ID_COLUMN}
    options = {name: value for name, value in cells.items() if name not in reserved and value}
    return CohortCase(case_id, line, case, seed, labels, options, str(manifest))


def _from_manifest_folder(text: str, manifest: Path) -> str:
    """``text`` as a path from the manifest's folder when it names one there, else as written."""
    path = Path(text).expanduser()
    if not path.is_absolute() and (manifest.parent / path).exists():
        return str((manifest.parent / path).resolve())
    return str(path.resolve()) if path.exists() else text


def _slug(name: str) -> str:
    for suffix in (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "case"
