"""Redraw the reference label map of the shared TCIA CT from the CT itself.

Usage (from the project root)::

    .venv/bin/python tests/data/tcia_reference/draw_reference.py \
        [../shared/dicom/tcia-pancreas-ct] [tests/data/tcia_reference/tcia_reference.nii.gz]

Each organ is drawn the way an annotator works with a region-growing tool:
seeds placed after looking at the slices, a tight HU window on a 5x5 in-plane
median of the CT, an in-plane opening before growing so that thin bridges
(vessels, bowel wall) do not carry the region into neighbours, hand-drawn
polygons (vertices are ``(i, j)`` columns/rows of the axial slice) where organs
touch, and per-slice hole filling. README.md says why each number is what it is.
This script is NOT the automatic anatomy of the application and shares no
code with it. It runs in about two and a half minutes on a shared machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from skimage.draw import disk as draw_disk
from skimage.draw import polygon
from skimage.morphology import disk

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[2]
sys.path.insert(0, str(PROJECT_ROOT))

from planning_core.imaging.labels import LabelMap  # noqa: E402
from planning_core.imaging.loader import load_image  # noqa: E402
from planning_core.imaging.volume_io import write_label_map  # noqa: E402

Mask = NDArray[np.bool_]
Polygon = list[tuple[int, int]]
FACES = ndi.generate_binary_structure(3, 1)
#: Organs painted over "body" in this order (they hardly overlap; later ones win).
PAINT_ORDER = ("colon", "bone", "kidney", "liver", "spleen")


def _slab(shape: tuple[int, ...], k0: int, k1: int, pts: Polygon) -> Mask:
    mask = np.zeros(shape, dtype=bool)
    rows, cols = polygon([p[1] for p in pts], [p[0] for p in pts], shape=shape[1:])
    mask[k0:k1, rows, cols] = True
    return mask


def polygons(shape: tuple[int, ...], slabs: list[tuple[int, int, Polygon]]) -> Mask:
    """Union of per-slab polygons: ``(k0, k1, [(i, j), ...])`` drawn on slices k0..k1-1."""
    mask = np.zeros(shape, dtype=bool)
    for k0, k1, pts in slabs:
        mask |= _slab(shape, k0, k1, pts)
    return mask


def cylinder(shape: tuple[int, ...], k0: int, k1: int, i: int, j: int, r: int) -> Mask:
    mask = np.zeros(shape, dtype=bool)
    rows, cols = draw_disk((j, i), r, shape=shape[1:])
    mask[k0:k1, rows, cols] = True
    return mask


def per_slice(function, *volumes: NDArray) -> Mask:
    return np.stack([function(*parts) for parts in zip(*volumes, strict=True)])


def body_and_table(hu: NDArray) -> tuple[Mask, Mask]:
    """The patient (cavities filled) and the table/pad/rails outside it."""
    dense = hu > -500  # halfway between air (-1000) and fat (-100): the skin's partial-volume edge
    core = ndi.binary_opening(dense, structure=disk(3)[None])  # cuts the 2-4 px pad sheets
    labels, _ = ndi.label(core)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    core = labels == np.argmax(sizes)
    body = dense & ndi.binary_dilation(core, structure=disk(4)[None])
    rows = np.arange(hu.shape[1])[None, :, None]
    # Where the back lies on the pad (rows >= 362), a column of the body ends at its first
    # voxel under -150 HU: the thin air/foam gap between skin and the pad's top sheet.
    gap = (hu < -150) & (rows >= 362)
    body &= ~np.maximum.accumulate(gap, axis=1)
    body = per_slice(ndi.binary_fill_holes, body)  # lungs, airways, bowel gas are body
    labels, _ = ndi.label(body)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == np.argmax(sizes)
    table = dense & ~ndi.binary_dilation(body, structure=disk(1)[None]) & (rows >= 300)
    return body, table


def _fill_marrow(section: Mask, hu_slice: NDArray) -> Mask:
    closed = ndi.binary_closing(section, structure=disk(1)) | section
    holes = ndi.binary_fill_holes(closed) & ~closed
    labels, count = ndi.label(holes)
    out = closed | (holes & (hu_slice >= 100))
    if count:
        mean = ndi.mean(hu_slice, labels, index=np.arange(1, count + 1))
        # Marrow, fatty or not, averages >= 70 HU; the spinal canal (CSF, cord) does not.
        out |= np.concatenate([[False], mean >= 70])[labels]
    rest = ndi.binary_fill_holes(out) & ~out
    labels, _ = ndi.label(rest)
    small = np.bincount(labels.ravel()) < 15
    small[0] = False
    return out | small[labels]


def bone_mask(hu: NDArray, body: Mask) -> Mask:
    """Cortex (>= 400 HU) grown into trabecular bone (>= 180 HU), marrow filled per slice."""
    cortex = (hu >= 400) & body
    labels, count = ndi.label(cortex, structure=np.ones((3, 3, 3)))
    keep = np.bincount(labels.ravel(), minlength=count + 1) >= 20
    keep[0] = False
    # Not bone though >= 400 HU: undiluted contrast in the SVC (k 112-133), a stone/excreted
    # contrast in the left renal sinus (k 73) and a calcification beside the SMA (k 75).
    for k, j, i in [(114, 221, 239), (123, 243, 235), (73, 292, 316), (75, 227, 258)]:
        keep[labels[k, j, i]] = False
    seeds = keep[labels]
    grown = ndi.binary_propagation(seeds, mask=(hu >= 180) & body, structure=FACES)
    labels, _ = ndi.label(grown, structure=np.ones((3, 3, 3)))
    heart = labels[110, 230, 300]  # the heart's contrast-filled chambers, reached via SVC contrast
    if heart:
        grown &= labels != heart
    return per_slice(_fill_marrow, grown, hu)


def grow(
    smooth: NDArray,
    body: Mask,
    bone: Mask,
    low_hu: float,
    high_hu: float,
    seeds: list[tuple[int, int, int]],
    *,
    forbid: Mask | None = None,
    k_range: tuple[int, int] = (0, 10_000),
    open_px: int = 3,
    fill: bool = True,
) -> Mask:
    """Region growing in an HU window from ``(k, j, i)`` seeds, opened first, edges restored."""
    candidate = (smooth >= low_hu) & (smooth <= high_hu) & body & ~bone
    if forbid is not None:
        candidate &= ~forbid
    slices = np.arange(smooth.shape[0])[:, None, None]
    candidate &= (slices >= k_range[0]) & (slices < k_range[1])
    core = ndi.binary_opening(candidate, structure=disk(open_px)[None])
    start = np.zeros_like(core)
    for seed in seeds:
        start[seed] = True
    region = ndi.binary_propagation(start & core, mask=core, structure=FACES)
    region = ndi.binary_dilation(region, structure=disk(open_px)[None]) & candidate
    if fill:
        region = per_slice(
            lambda x: ndi.binary_fill_holes(ndi.binary_closing(x, structure=disk(2)) | x), region
        )
        if forbid is not None:
            region &= ~forbid
    return region


def _best_seed(smooth: NDArray, k: int, rows: tuple[int, int], cols: tuple[int, int]) -> tuple:
    """The voxel of a box on slice k whose smoothed HU is closest to renal parenchyma (200)."""
    box = smooth[k, rows[0] : rows[1], cols[0] : cols[1]].astype(float)
    j, i = np.unravel_index(np.argmin(np.abs(box - 200.0)), box.shape)
    return (k, rows[0] + int(j), cols[0] + int(i))


def _fill_kidney(section: Mask, hu_slice: NDArray) -> Mask:
    closed = ndi.binary_closing(section, structure=disk(3)) | section
    holes = ndi.binary_fill_holes(closed) & ~closed
    # Medulla and small sinus vessels (>= 60 HU) are kidney; sinus fat and urine are not.
    return section | ((holes | closed) & (hu_slice >= 60))


def kidney_mask(hu: NDArray, smooth: NDArray, body: Mask, bone: Mask) -> Mask:
    """Both kidneys' parenchyma (cortex + medulla), 120-330 HU, one side at a time."""
    shape = hu.shape
    # Right kidney lateral to the IVC and renal vein.
    right = polygons(
        shape,
        [
            (30, 72, [(110, 225), (230, 225), (230, 340), (110, 340)]),
            # k 72-84: the medial cortex reaches i 235 behind the IVC (j > 266); in front
            # of it (the renal vein toward the IVC) the kidney stops at i 228
            (72, 85, [(110, 225), (228, 225), (228, 266), (238, 266), (238, 340), (110, 340)]),
            (85, 95, [(110, 225), (230, 225), (230, 340), (110, 340)]),
        ],
    )
    # Left kidney lateral to the aorta (i >= 298), medial to the fat plane against the spleen
    # seen on k 76-86, and below the splenic vein.
    left = polygons(
        shape,
        [
            (30, 76, [(298, 225), (400, 225), (400, 340), (298, 340)]),
            (76, 80, [(298, 250), (337, 250), (337, 340), (298, 340)]),
            (80, 83, [(298, 255), (328, 255), (328, 340), (298, 340)]),
            (83, 90, [(298, 280), (318, 280), (318, 340), (298, 340)]),
        ],
    )
    sides = [
        (
            right,
            [
                _best_seed(smooth, 70, (240, 290), (140, 200)),
                _best_seed(smooth, 60, (250, 290), (160, 210)),
            ],
        ),
        (
            left,
            [
                _best_seed(smooth, 70, (250, 300), (300, 360)),
                _best_seed(smooth, 60, (250, 300), (300, 350)),
            ],
        ),
    ]
    kidneys = np.zeros(shape, dtype=bool)
    for allowed, seeds in sides:
        side = grow(smooth, body, bone, 120, 330, seeds, forbid=~allowed, fill=False)
        kidneys |= per_slice(_fill_kidney, side, hu)
    return kidneys


def liver_mask(smooth: NDArray, body: Mask, bone: Mask, kidney: Mask) -> Mask:
    """Liver parenchyma with its intrahepatic vessels, 75-150 HU; IVC, GB, heart, stomach out."""
    shape = smooth.shape
    forbid = polygons(
        shape,
        [
            (101, 134, [(232, 130), (512, 130), (512, 400), (245, 400)]),  # heart
            (97, 101, [(238, 130), (512, 130), (512, 400), (250, 400)]),  # heart at the dome
            (96, 97, [(262, 130), (512, 130), (512, 400), (255, 400)]),  # heart
            (
                80,
                96,
                [(318, 130), (512, 130), (512, 400), (290, 400), (290, 240), (310, 235)],
            ),  # stomach
            (74, 82, [(215, 200), (512, 200), (512, 400), (215, 400)]),  # pancreas, duodenum
            (40, 74, [(215, 100), (512, 100), (512, 400), (215, 400)]),
            # costal cartilages in the anterior wall bulging onto the liver's surface
            (81, 83, [(172, 150), (210, 150), (210, 177), (172, 177)]),
            (83, 85, [(180, 150), (206, 150), (206, 176), (180, 176)]),
            (85, 89, [(188, 150), (218, 150), (218, 174), (188, 174)]),
        ],
    )
    # The IVC runs along the bare area with liver-like enhancement (about 100-120 HU).
    forbid |= cylinder(shape, 40, 74, 240, 247, 12)
    forbid |= cylinder(shape, 74, 84, 240, 255, 14)
    forbid |= cylinder(shape, 84, 93, 238, 258, 14)
    forbid |= cylinder(shape, 93, 101, 240, 255, 14)
    forbid |= ndi.binary_dilation(kidney, structure=disk(1)[None])
    # Fluid (< 50 HU) of the right upper-pole renal cyst and of the gallbladder.
    forbid |= polygons(shape, [(68, 92, [(150, 258), (225, 258), (225, 340), (150, 340)])]) & (
        smooth < 50
    )
    forbid |= polygons(shape, [(70, 88, [(150, 185), (210, 185), (210, 225), (150, 225)])]) & (
        smooth < 50
    )
    seeds = [(88, 250, 150), (80, 230, 130), (96, 230, 200)]
    liver = grow(smooth, body, bone, 75, 150, seeds, forbid=forbid, k_range=(55, 115))
    return _drop_wall_nodules(liver)


#: Costal cartilages / rectus sheath in the anterior wall that touch the liver with no fat
#: plane and liver-like HU (100-140): (k, i, j) of each, read off the slices.
WALL_NODULES: list[tuple[int, int, int]] = [
    (72, 153, 167),
    (73, 158, 165),
    (74, 162, 164),
    (75, 165, 163),
    (76, 159, 166),
    (77, 159, 166),
    (78, 166, 165),
    (79, 170, 165),
    (80, 171, 165),
    (82, 155, 173),
    (83, 151, 175),
    (84, 149, 176),
    (87, 144, 179),
    (89, 206, 166),
    (90, 209, 165),
    (91, 212, 165),
    (92, 215, 165),
    (93, 217, 164),
    (94, 223, 163),
    (95, 227, 162),
    (96, 230, 160),
    (97, 231, 160),
    (98, 233, 159),
    (99, 236, 158),
]


def _drop_wall_nodules(liver: Mask) -> Mask:
    """Remove the listed nodules: parts of a slice hanging on the liver by a neck < 11 px."""
    liver = liver.copy()
    for k, i, j in WALL_NODULES:
        opened = ndi.binary_opening(liver[k], structure=disk(5))
        labels, _ = ndi.label(opened)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        main = ndi.binary_dilation(labels == np.argmax(sizes), structure=disk(5))
        parts, _ = ndi.label(liver[k] & ~main)
        for part in range(1, parts.max() + 1):
            cj, ci = ndi.center_of_mass(parts == part)
            if np.hypot(ci - i, cj - j) <= 6.0:
                liver[k] &= parts != part
    return liver


def spleen_mask(smooth: NDArray, body: Mask, bone: Mask, kidney: Mask) -> Mask:
    """Spleen, 120-250 HU, lateral to the splenic vein and pancreatic tail."""
    forbid = ndi.binary_dilation(kidney, structure=disk(1)[None])
    forbid |= polygons(smooth.shape, [(60, 110, [(0, 0), (300, 0), (300, 512), (0, 512)])])
    # The splenic vein runs into the hilum from the medial side on k 81-87.
    forbid |= polygons(smooth.shape, [(81, 88, [(300, 235), (352, 235), (352, 263), (300, 263)])])
    return grow(
        smooth,
        body,
        bone,
        120,
        250,
        [(88, 270, 380), (80, 280, 370)],
        forbid=forbid,
        k_range=(60, 110),
    )


#: Ascending colon and caecum with mottled stool, traced on every third slice (vertices
#: (i, j)); each outline serves its slice and the one above and below. Round smooth-walled
#: loops next to it (small bowel) and gas bubbles that cannot be followed into the
#: stool-filled lumen stay outside.
COLON_OUTLINES: dict[int, Polygon] = {
    25: [
        (160, 224),
        (172, 222),
        (184, 228),
        (187, 245),
        (185, 262),
        (172, 264),
        (163, 255),
        (160, 240),
    ],
    28: [
        (163, 214),
        (177, 212),
        (188, 220),
        (192, 240),
        (190, 262),
        (178, 268),
        (165, 262),
        (160, 245),
        (162, 228),
    ],
    31: [
        (163, 210),
        (178, 207),
        (190, 214),
        (196, 232),
        (196, 258),
        (188, 270),
        (170, 272),
        (158, 262),
        (156, 245),
        (160, 228),
    ],
    34: [
        (158, 210),
        (172, 205),
        (186, 210),
        (196, 230),
        (196, 258),
        (188, 270),
        (165, 272),
        (150, 262),
        (148, 240),
    ],
    37: [
        (150, 205),
        (170, 202),
        (190, 210),
        (198, 230),
        (192, 262),
        (175, 268),
        (158, 265),
        (147, 250),
        (146, 225),
    ],
    40: [
        (143, 215),
        (160, 203),
        (178, 205),
        (192, 215),
        (192, 232),
        (182, 245),
        (178, 262),
        (160, 268),
        (145, 262),
        (140, 240),
    ],
    43: [
        (143, 215),
        (160, 205),
        (178, 205),
        (188, 215),
        (185, 240),
        (178, 262),
        (165, 272),
        (148, 268),
        (140, 245),
    ],
    46: [
        (143, 215),
        (158, 208),
        (180, 210),
        (190, 222),
        (186, 245),
        (180, 262),
        (170, 275),
        (150, 272),
        (142, 250),
    ],
    49: [
        (138, 220),
        (155, 215),
        (175, 222),
        (187, 235),
        (185, 250),
        (170, 258),
        (162, 275),
        (145, 278),
        (135, 260),
        (133, 240),
    ],
    52: [
        (135, 228),
        (150, 222),
        (172, 228),
        (180, 240),
        (178, 258),
        (170, 272),
        (150, 276),
        (137, 268),
        (132, 250),
    ],
    55: [
        (132, 232),
        (145, 224),
        (165, 232),
        (175, 240),
        (172, 258),
        (165, 278),
        (150, 285),
        (135, 278),
        (132, 255),
    ],
    58: [
        (132, 236),
        (140, 226),
        (160, 232),
        (172, 240),
        (170, 258),
        (160, 265),
        (160, 285),
        (145, 292),
        (135, 285),
        (130, 262),
    ],
    61: [
        (130, 234),
        (150, 228),
        (170, 232),
        (172, 255),
        (168, 280),
        (155, 292),
        (138, 290),
        (130, 270),
        (128, 250),
    ],
    64: [
        (132, 250),
        (145, 245),
        (170, 250),
        (175, 268),
        (165, 290),
        (145, 295),
        (133, 285),
        (131, 265),
    ],
    67: [
        (128, 255),
        (145, 248),
        (168, 252),
        (174, 268),
        (165, 290),
        (145, 296),
        (130, 290),
        (126, 270),
    ],
    70: [(140, 248), (158, 244), (170, 252), (170, 272), (160, 282), (145, 280), (138, 262)],
    73: [(148, 250), (165, 244), (185, 250), (190, 265), (175, 282), (155, 285), (146, 270)],
}


#: Descending colon, k 28-79: a single loop of 12-20 mm lying alone in the fat of the left
#: paracolic gutter, often with a gas bubble. (k, i, j, half-size px) of a square around it,
#: read off the slices; centre and size are interpolated between these slices. Above k 80
#: it turns forward into the splenic flexure among other loops and is left out.
DESCENDING_COLON: list[tuple[int, int, int, int]] = [
    (28, 356, 246, 10),
    (32, 358, 250, 12),
    (36, 362, 256, 12),
    (40, 365, 262, 9),
    (44, 370, 264, 9),
    (48, 373, 266, 9),
    (52, 376, 266, 9),
    (56, 379, 262, 13),
    (60, 385, 268, 9),
    (64, 387, 270, 8),
    (68, 388, 268, 8),
    (72, 390, 268, 9),
    (76, 388, 255, 12),
    (79, 386, 245, 10),
]


def _descending_outline(shape: tuple[int, ...]) -> Mask:
    keys = np.array(DESCENDING_COLON, dtype=float)
    outline = np.zeros(shape, dtype=bool)
    for k in range(int(keys[0, 0]), int(keys[-1, 0]) + 1):
        i, j, half = (np.interp(k, keys[:, 0], keys[:, n]) for n in (1, 2, 3))
        i0, i1, j0, j1 = (round(v) for v in (i - half, i + half, j - half, j + half))
        outline |= _slab(shape, k, k + 1, [(i0, j0), (i1, j0), (i1, j1), (i0, j1)])
    return outline


def _colon_in(outline: Mask, hu: NDArray, fine: NDArray, body: Mask, bone: Mask) -> Mask:
    """Wall, content and gas inside an outline; pericolic fat out."""
    # Fat (about -100 HU) is below -60 HU on a 3x3 median, wall and stool above; gas
    # bubbles in the stool are below -200 HU.
    content = outline & body & ~bone & ((fine > -60) | (hu < -200))
    colon = np.zeros_like(content)
    for k in np.flatnonzero(content.any(axis=(1, 2))):
        section = ndi.binary_closing(content[k], structure=disk(2)) | content[k]
        section = ndi.binary_fill_holes(section) & outline[k]
        # Slivers of abdominal-wall muscle grazed by an outline are not colon.
        colon[k] = ndi.binary_opening(section, structure=disk(2))
    return colon


def _largest_per_slice(mask: Mask) -> Mask:
    out = np.zeros_like(mask)
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        labels, _ = ndi.label(mask[k])
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        out[k] = labels == np.argmax(sizes)
    return out


def colon_mask(hu: NDArray, body: Mask, bone: Mask) -> Mask:
    """Ascending colon and caecum, and descending colon."""
    ascending = np.zeros(hu.shape, dtype=bool)
    for k, pts in COLON_OUTLINES.items():
        ascending |= _slab(hu.shape, k - 1, k + 2, pts)
    fine = ndi.median_filter(hu.astype(np.float32), size=(1, 3, 3))
    colon = _colon_in(ascending, hu, fine, body, bone)
    # One loop per slice in the left gutter: smaller pieces in a square are wall muscle.
    return colon | _largest_per_slice(
        _colon_in(_descending_outline(hu.shape), hu, fine, body, bone)
    )


def draw(ct_dir: Path) -> LabelMap:
    volume = load_image(ct_dir)
    hu = volume.voxels
    smooth = ndi.median_filter(hu.astype(np.float32), size=(1, 5, 5))
    body, table = body_and_table(hu)
    bone = bone_mask(hu, body)
    kidney = kidney_mask(hu, smooth, body, bone)
    organs = {
        "colon": colon_mask(hu, body, bone),
        "bone": bone,
        "kidney": kidney,
        "liver": liver_mask(smooth, body, bone, kidney),
        "spleen": spleen_mask(smooth, body, bone, kidney),
    }
    labels = LabelMap.empty(volume.geometry).with_mask("body", body)
    for name in PAINT_ORDER:
        labels = labels.with_mask(name, organs[name] & body)
    return labels.with_mask("table", table, color_rgb=(80, 80, 80), role="anatomy")


def main(argv: list[str]) -> None:
    ct_dir = (
        Path(argv[1]) if len(argv) > 1 else PROJECT_ROOT.parent / "shared/dicom/tcia-pancreas-ct"
    )
    out = Path(argv[2]) if len(argv) > 2 else HERE / "tcia_reference.nii.gz"
    labels = draw(ct_dir)
    write_label_map(labels, out)
    for name in labels.names:
        print(f"{name:8s} {labels.volume_ml(name):9.1f} mL")


if __name__ == "__main__":
    main(sys.argv)
