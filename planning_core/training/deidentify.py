"""De-identified copies of DICOM studies for the training library.

The copy keeps every voxel and the geometry (so plans made on the original
still match by content hash) and passes every file through the DICOM PS3.15
basic profile of :mod:`planning_core.imaging.deidentify`: names and IDs
become ``TRAINING-<case id>``, identifying attributes are removed or emptied,
every date moves back by a number of days, UIDs are replaced consistently
within the case, private attributes are dropped. A file that declares text
burned into its pixels is refused: pixels are not cleaned.

Date shift and UID key are keyed hashes of the case id under the library's own
random secret (stored in its database, created with the library or on upgrade):
the same case imported twice into one library gets the same shift and UIDs,
but neither can be derived from the case id or other public data, so an
exported case does not reveal its original dates.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from planning_core.errors import DicomLoadError
from planning_core.imaging.deidentify import Deidentifier, declares_burned_in_annotation
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.training.database import write_transaction

#: Bytes of a library secret.
SECRET_BYTES = 32


def library_secret(connection: sqlite3.Connection) -> bytes:
    """The library's de-identification secret; a new random one when it has none.

    The schema upgrade that added the secret gave every library one; a library
    whose secret was removed gets a new one, which keys the imports from then on
    (cases imported earlier keep their copies).
    """
    secret = _stored_secret(connection)
    if secret is None:
        with write_transaction(connection):
            connection.execute(
                "INSERT OR IGNORE INTO library_secret (id, secret) VALUES (1, ?)",
                (secrets.token_bytes(SECRET_BYTES),),
            )
        secret = _stored_secret(connection)
    assert secret is not None  # inserted above, or by a concurrent writer first
    return secret


def _stored_secret(connection: sqlite3.Connection) -> bytes | None:
    row = connection.execute("SELECT secret FROM library_secret WHERE id = 1").fetchone()
    if row is None or not isinstance(row[0], bytes) or len(row[0]) < 16:
        return None
    return row[0]


def case_deidentifier(secret: bytes, case_id: str) -> Deidentifier:
    """The de-identification of case ``case_id`` in the library with ``secret``."""
    return Deidentifier.from_secret(secret, case_id, pseudonym=f"TRAINING-{case_id}")


def deidentify_dicom_folder(
    source: str | Path,
    destination: str | Path,
    *,
    deidentifier: Deidentifier,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Write de-identified copies of every DICOM file under ``source`` into ``destination``.

    Files that are not DICOM (notes, thumbnails) are skipped. Copies are named
    ``IM00001.dcm``... in the order found (sorted paths).

    Parameters
    ----------
    source : path
        A DICOM file or a folder searched recursively.
    destination : path
        Folder to create; it must not hold files yet.
    deidentifier : Deidentifier
        Pseudonym, UID key and date shift of the case (:func:`case_deidentifier`).
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    int
        Number of files written.
    """
    source, destination = Path(source), Path(destination)
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    destination.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, path in enumerate(files):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            dataset = pydicom.dcmread(path)
        except (InvalidDicomError, OSError):
            continue
        except Exception as error:  # pydicom raises assorted errors for damaged files
            raise DicomLoadError(
                f"{path}: cannot be read for de-identification ({error})."
            ) from error
        if path.name == "DICOMDIR" or "DirectoryRecordSequence" in dataset:
            continue  # a DICOMDIR names the original files; the copy needs none
        if declares_burned_in_annotation(dataset):
            raise DicomLoadError(
                f"{path}: declares burned-in annotation (BurnedInAnnotation YES), so its "
                "pixels may show the patient's identity; import a series without it."
            )
        deidentifier.apply(dataset)
        written += 1
        dataset.save_as(destination / f"IM{written:05d}.dcm", enforce_file_format=True)
        if progress is not None:
            progress((index + 1) / len(files), f"De-identifying {path.name}")
    if written == 0:
        raise DicomLoadError(f"{source}: no DICOM files found to import.")
    return written
