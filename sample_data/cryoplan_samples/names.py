"""The names of the sample cases, importable without the generator."""

#: The sample cases, in the order menus and ``cryoplan sample-data`` list them.
SAMPLE_CASE_NAMES: tuple[str, ...] = (
    "kidney",
    "liver",
    "lung",
    "breast",
    # Heterogeneous lesions (issue 16): what one click cannot take, for the diameter
    # line and the strokes; their manifests also give the RECIST diameter line.
    "liver-metastasis",
    "kidney-cystic",
    "lung-part-solid",
)
