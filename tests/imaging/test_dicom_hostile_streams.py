"""Hostile or damaged pixel streams: a cut codestream or a deflate bomb is refused, never decoded.

Mutants are built in tmp_path from the real files of
$CRYOPLAN_SHARED_DICOM/transfer-syntaxes the way benchmarks/fuzz_dicom.py
builds them (findings F24 and F26); the tests skip where that folder is absent.
"""

import struct
import warnings
import zlib

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom import scan_dicom
from planning_core.imaging.dicom.headers import read_header
from planning_core.imaging.dicom.pixels import decode_frames
from planning_core.imaging.loader import load_image

pytestmark = pytest.mark.shared_dicom

JPEG_FAMILY = {
    "jpeg lossless": "CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm",
    "jpeg-ls": "CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm",
    "jpeg 2000": "CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm",
}


def _frames(ds):
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1))))


def _save(ds, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path)
    return path


def _with_frames(shared_dicom, tmp_path, name, make_frames):
    """A copy of a real file whose encapsulated frames are replaced by ``make_frames(frame)``."""
    ds = pydicom.dcmread(shared_dicom / "transfer-syntaxes" / name)
    (frame,) = _frames(ds)
    frames = make_frames(frame)
    ds.PixelData = encapsulate(frames)
    ds.NumberOfFrames = len(frames)
    return _save(ds, tmp_path / "mutant.dcm")


# -- F26: a codestream cut short decodes to a partly constant slice without a word
@pytest.mark.parametrize("syntax", sorted(JPEG_FAMILY))
@pytest.mark.parametrize("fraction", [0.1, 0.99])
def test_a_cut_jpeg_frame_is_skipped_at_scan_naming_the_missing_end_marker(
    tmp_path, shared_dicom, syntax, fraction
):
    def cut(frame):
        return [frame[: int(len(frame) * fraction) // 2 * 2]]

    _with_frames(shared_dicom, tmp_path, JPEG_FAMILY[syntax], cut)

    (skipped,) = scan_dicom(tmp_path).skipped
    assert skipped.path.name == "mutant.dcm"
    assert skipped.damaged
    assert "no end-of-image marker" in skipped.reason


def test_a_cut_frame_before_an_intact_last_frame_is_refused_when_decoding(tmp_path, shared_dicom):
    path = _with_frames(
        shared_dicom,
        tmp_path,
        JPEG_FAMILY["jpeg lossless"],
        lambda frame: [frame[: len(frame) // 2 // 2 * 2], frame],
    )
    header = read_header(path)

    with pytest.raises(DicomLoadError, match=r"mutant\.dcm.*no end-of-image marker"):
        decode_frames(header, name="series")


@pytest.mark.parametrize("pad", [b"\x00", b"\xff"])
def test_a_whole_frame_padded_after_its_end_marker_decodes(tmp_path, shared_dicom, pad):
    # The file's frame is odd-length, padded with 00 after EOI; some encoders pad with FF.
    path = _with_frames(
        shared_dicom, tmp_path, JPEG_FAMILY["jpeg lossless"], lambda f: [f[:-1] + pad]
    )

    assert not scan_dicom(tmp_path).skipped
    assert decode_frames(read_header(path), name="series").values.shape == (1, 512, 512)


# -- F24: a deflated file inflating to gigabytes was inflated whole, even to list it
DEFLATED = "CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm"


def _deflate_bomb(source, path, zeros_bytes=64 * 1024**2):
    """The deflated CT with a private OB element of zeros after its pixel data."""
    ds = pydicom.dcmread(source)
    ds.add_new((0x7FE1, 0x0010), "LO", "HOSTILE")
    ds.add_new((0x7FE1, 0x1010), "OB", bytes(zeros_bytes))
    return _save(ds, path)


def test_a_deflate_bomb_is_skipped_at_scan_naming_the_limit(tmp_path, shared_dicom, monkeypatch):
    _deflate_bomb(shared_dicom / "transfer-syntaxes" / DEFLATED, tmp_path / "bomb.dcm")
    inflated_sizes = []
    real_decompressobj = zlib.decompressobj

    class Recording:
        """Records how many bytes each decompress call returns (none may be the whole bomb)."""

        def __init__(self, *args):
            self._inner = real_decompressobj(*args)

        def decompress(self, data, max_length=0):
            out = self._inner.decompress(data, max_length)
            inflated_sizes.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Recording)
    # pydicom's own whole-file zlib.decompress must not be reached either.
    monkeypatch.setattr(zlib, "decompress", lambda *a, **k: pytest.fail("unbounded inflate"))

    (skipped,) = scan_dicom(tmp_path).skipped

    assert skipped.path.name == "bomb.dcm"
    assert skipped.damaged
    assert "inflates to more than 17 MiB" in skipped.reason
    assert max(inflated_sizes) <= 17 * 1024**2


def test_a_deflate_bomb_swapped_in_after_the_scan_is_refused_when_loading(tmp_path, shared_dicom):
    source = shared_dicom / "transfer-syntaxes" / DEFLATED
    path = tmp_path / "slice.dcm"
    path.write_bytes(source.read_bytes())
    header = read_header(path)
    _deflate_bomb(source, path)

    with pytest.raises(DicomLoadError, match=r"slice\.dcm.*inflates to more than 17 MiB"):
        decode_frames(header, name="series")


def test_a_legitimate_deflated_file_still_loads(tmp_path, shared_dicom):
    source = shared_dicom / "transfer-syntaxes" / DEFLATED
    plain = pydicom.dcmread(source).pixel_array

    decoded = decode_frames(read_header(source), name="series").values

    assert (decoded[0] == plain).all()


# -- F25: stream and header agree on 1024×1024 while the data cover 512×512
def _claim_1024(frame):
    """The frame with the size its own stream header states set to 1024 square."""
    data = bytearray(frame)
    siz = data.find(b"\xff\x4f\xff\x51")  # JPEG 2000: SOC then SIZ
    if siz >= 0:
        for offset in (8, 12, 24, 28):  # Xsiz, Ysiz, XTsiz, YTsiz
            data[siz + offset : siz + offset + 4] = struct.pack(">I", 1024)
    else:
        sof = max(data.find(b"\xff\xf7"), data.find(b"\xff\xc3"))  # JPEG-LS SOF55, lossless SOF3
        data[sof + 5 : sof + 9] = struct.pack(">HH", 1024, 1024)
    return bytes(data)


# JPEG 2000 and JPEG-LS fill the rest with garbage, JPEG lossless with one constant value.
@pytest.mark.parametrize("syntax", sorted(JPEG_FAMILY))
def test_a_stream_stating_a_larger_image_than_its_data_is_reported_as_damaged(
    tmp_path, shared_dicom, syntax
):
    path = _with_frames(
        shared_dicom, tmp_path, JPEG_FAMILY[syntax], lambda frame: [_claim_1024(frame)]
    )
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 1024
    _save(ds, path)

    volume = load_image(tmp_path)

    assert any("mutant.dcm" in w and "may be damaged" in w for w in volume.warnings)


# Lossy compression smears the -3024 HU padding outside the field of view by tens of HU.
LOSSY = [
    "CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm",
    "CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm",
    "CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm",
]


@pytest.mark.parametrize("name", [*sorted(JPEG_FAMILY.values()), *LOSSY, DEFLATED])
def test_real_ct_slices_give_no_damage_warning(tmp_path, shared_dicom, name):
    (tmp_path / name).write_bytes((shared_dicom / "transfer-syntaxes" / name).read_bytes())

    volume = load_image(tmp_path)

    assert not [w for w in volume.warnings if "may be damaged" in w]
