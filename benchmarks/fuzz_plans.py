"""Fuzz plan files with hostile mutants of the kidney sample plan; print a table of outcomes.

The kidney sample plan (three argon probes, F10-T8-F10; see ``tests/report/kidney_plan.py``)
is evaluated once on a coarse grid and saved with its label map and simulation fields; its
image is saved beside it as NIfTI (the plan's content hash does not depend on the format),
so that each load is quick. Each mutant is one plan file (and, for some kinds, one
damaged companion file) with one named kind of damage: wrong types, missing keys, huge
numbers, NaN, deep nesting, paths to devices, folders, pipes, other files and symbolic
links, unicode junk, truncated or non-JSON text, protocol and probe-count excesses, and
damaged companions.

A worker process, capped in memory (``RLIMIT_AS``) and in time, runs on each mutant what
``cryoplan evaluate`` and ``cryoplan report`` do before simulating: load the plan, then its
image, label map and fields (``--command loader``, the default); or the real command
(``--command evaluate`` / ``report``, minutes per mutant). Each run is classified:

``clean``      exit 0 and nothing on stderr (warnings travel with the result);
``refused``    exit 2 with exactly one line on stderr;
``noise``      exit 0 with text on stderr (besides progress lines), or exit 2 with
               more than one line on stderr (library warnings before the clean error);
``traceback``  any uncaught exception, or the worker killed by a signal;
``memory``     MemoryError: an allocation beyond the cap;
``hang``       the worker did not finish within ``--timeout-s``.

``--then-evaluate N`` then runs ``cryoplan evaluate`` (8 mm grid) on up to N mutants that
loaded cleanly, taking the kinds in turn, and prints a second table.

Run: ``.venv/bin/python benchmarks/fuzz_plans.py [--jobs 2] [--timeout-s 60] [--then-evaluate 30]
[--kinds path,protocol] [--keep DIR] [--log FILE]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP_BYTES = 8 * 1024**3

LOADER = """
import sys
from planning_core.errors import PlanningError
from planning_core.planning.case_files import load_plan_case
from planning_core.planning.plan_json import load_plan
path = sys.argv[1]
try:
    plan = load_plan(path)
    case = load_plan_case(plan, plan_path=path)
except PlanningError as error:
    print(f"cryoplan: error: {error}", file=sys.stderr)
    sys.exit(2)
print(f"loaded, {len(case.warnings)} warning(s)")
"""


@dataclass(frozen=True)
class Mutant:
    """One damaged plan file: its kind, a short description and how to write it."""

    kind: str
    what: str
    write: Callable[[Path], None]


def _set(data: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _delete(data: Any, path: tuple) -> None:
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


def _nested_lists(depth: int) -> list:
    return json.loads("[" * depth + "]" * depth)


def _copies(probe: dict, count: int) -> list[dict]:
    return [dict(probe, label=f"P{number + 1}") for number in range(count)]


def _name(path: tuple) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


# Fields whose type is swapped or that are deleted (the whole structure is covered).
FIELD_PATHS: tuple[tuple, ...] = (
    ("format",), ("schema_version",), ("name",), ("notes",), ("case",),
    ("case", "content_sha256"), ("case", "image_path"), ("case", "labels_path"),
    ("case", "description"), ("case", "series_instance_uid"), ("labels",),
    ("labels", "target"), ("labels", "oars"), ("probes",), ("probes", 0),
    ("probes", 0, "model"), ("probes", 0, "tip_lps_mm"), ("probes", 0, "tip_lps_mm", 0),
    ("probes", 0, "entry_lps_mm"), ("probes", 0, "label"), ("protocol",), ("settings",),
    ("settings", "margin_mm"), ("settings", "max_probes"), ("settings", "max_total_freeze_s"),
    ("settings", "oar_clearances_mm"), ("settings", "reported_isotherms_c"),
    ("settings", "patient_position"), ("thermal_fields_path",), ("thermal_fields_sha256",),
    ("metrics",), ("metrics", "inputs_sha256"), ("metrics", "coverage"), ("metrics", "paths"),
    ("metrics", "paths", 0, "closest_mm"), ("metrics", "histograms", 0, "temperatures_c"),
    ("metrics", "minimal_ablative_margin"), ("metrics", "oars"), ("metrics", "total_freeze_s"),
)  # fmt: skip
SWAPPED_VALUES: tuple[Any, ...] = ("text", 1e308, [], {}, None, True)


class Mutator:
    """Builds the mutants of one valid plan lying in ``folder`` (with its companions)."""

    def __init__(self, plan_path: Path) -> None:
        self.folder = plan_path.parent
        self.text = plan_path.read_text(encoding="utf-8")
        self.data = json.loads(self.text)
        self.mutants: list[Mutant] = []

    def json_mutant(self, kind: str, what: str, change: Callable[[Any], None]) -> None:
        def write(path: Path) -> None:
            data = json.loads(self.text)
            change(data)
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")

        self.mutants.append(Mutant(kind, what, write))

    def raw_mutant(self, kind: str, what: str, payload: bytes | Callable[[], bytes]) -> None:
        def write(path: Path) -> None:
            path.write_bytes(payload() if callable(payload) else payload)

        self.mutants.append(Mutant(kind, what, write))

    def text_mutant(self, kind: str, what: str, old: str, new: str) -> None:
        assert old in self.text, old
        self.raw_mutant(kind, what, self.text.replace(old, new, 1).encode("utf-8"))

    def build(self) -> list[Mutant]:
        self._types_and_missing_keys()
        self._numbers()
        self._nesting()
        self._paths()
        self._unicode()
        self._truncated()
        self._protocols_and_probes()
        self._companions()
        self._versions_and_hashes()
        return self.mutants

    def _types_and_missing_keys(self) -> None:
        for path in FIELD_PATHS:
            for value in SWAPPED_VALUES:
                self.json_mutant(
                    "wrong type", f"{_name(path)} = {json.dumps(value)[:12]}",
                    lambda d, p=path, v=value: _set(d, p, v),
                )  # fmt: skip
            self.json_mutant("missing key", f"no {_name(path)}", lambda d, p=path: _delete(d, p))

    def _numbers(self) -> None:
        cases = {
            ("probes", 0, "tip_lps_mm", 0): (1e308, -1e308, 1e20, 1e-320),
            ("probes", 0, "entry_lps_mm", 2): (1e15, -0.0),
            ("settings", "margin_mm"): (1e9, -5.0, 0.0),
            ("settings", "max_probes"): (10**30, 0, 2.5),
            ("settings", "max_total_freeze_s"): (1e12, -1.0),
            ("schema_version",): (10**100, -1),
            ("metrics", "total_freeze_s"): (1e308,),
            ("metrics", "probe_count"): (10**18,),
        }
        for path, values in cases.items():
            for value in values:
                self.json_mutant(
                    "huge number", f"{_name(path)} = {value!r}"[:40],
                    lambda d, p=path, v=value: _set(d, p, v),
                )  # fmt: skip
        targets = (
            ("settings", "margin_mm"),
            ("probes", 0, "tip_lps_mm", 1),
            ("metrics", "margin_mm"),
        )
        for value in (float("nan"), float("inf"), float("-inf")):
            for path in targets:
                self.json_mutant(
                    "nan", f"{_name(path)} = {value}", lambda d, p=path, v=value: _set(d, p, v)
                )

    def _nesting(self) -> None:
        self.raw_mutant("deep nesting", '100,000 "["', b"[" * 100_000)
        self.raw_mutant("deep nesting", '1,000,000 "{"', b'{"a":' * 1_000_000)
        deep = "[" * 50_000 + "]" * 50_000
        self.text_mutant(
            "deep nesting", "notes: 50,000 nested lists", '"notes": ""', f'"notes": {deep}'
        )
        self.text_mutant(
            "deep nesting", "probes: 50,000 nested lists", '"probes": [', f'"probes": [{deep}, '
        )
        self.json_mutant(
            "deep nesting", "reported_isotherms_c: 60 nested lists (accepted depth)",
            lambda d: _set(d, ("settings", "reported_isotherms_c"), _nested_lists(60)),
        )  # fmt: skip

    def _paths(self) -> None:
        folder = self.folder
        os.mkfifo(folder / "pipe.npz")
        (folder / "link-to-zero.nii.gz").symlink_to("/dev/zero")
        (folder / "loop-a.nii.gz").symlink_to(folder / "loop-b.nii.gz")
        (folder / "loop-b.nii.gz").symlink_to(folder / "loop-a.nii.gz")
        (folder / "dangling.npz").symlink_to(folder / "nowhere.npz")
        (folder / "empty-folder.nii.gz").mkdir()
        labels = self.data["case"]["labels_path"]
        fields = self.data["thermal_fields_path"]
        targets = (
            "/dev/zero", "/", "/dev/urandom", "/proc/self/mem", "/etc/passwd", "pipe.npz",
            "link-to-zero.nii.gz", "loop-a.nii.gz", "dangling.npz", "empty-folder.nii.gz",
            "nonexistent.nii.gz", "", " ", "a\u0000b", "\ud800.npz", "x" * 5000,
            "../../../../../../etc/shadow", "kidney.cryoplan.json", labels, fields,
        )  # fmt: skip
        keys = (("case", "image_path"), ("case", "labels_path"), ("thermal_fields_path",))
        for key in keys:
            for target in targets:
                self.json_mutant(
                    "path", f"{_name(key)} -> {target[:30]!r}",
                    lambda d, k=key, t=target: _set(d, k, t),
                )  # fmt: skip

    def _unicode(self) -> None:
        junk = {
            "lone surrogate": "\ud800\udfff\ud834",
            "bidi": "\u202e\u2066evil\u2069",
            "control": "\x00\x01\x1b[31mred\x7f",
            "emoji": "🧊" * 1000,
            "1 MB": "é" * 500_000,
        }
        for label, value in junk.items():
            for key in (("name",), ("probes", 0, "label"), ("probes", 0, "model")):
                self.json_mutant(
                    "unicode", f"{_name(key)}: {label}", lambda d, k=key, v=value: _set(d, k, v)
                )
        self.json_mutant(
            "unicode", "patient_position full-width",
            lambda d: _set(d, ("settings", "patient_position"), "ＨＦＳ"),
        )  # fmt: skip
        self.json_mutant(
            "unicode", "oar_clearances_mm key junk",
            lambda d: _set(d, ("settings", "oar_clearances_mm"), {"\ud800": 1.0, "": 2.0}),
        )  # fmt: skip

    def _truncated(self) -> None:
        data = self.text.encode("utf-8")
        for fraction in (0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999):
            self.raw_mutant(
                "truncated", f"cut at {fraction:.1%}", data[: int(len(data) * fraction)]
            )
        self.raw_mutant("truncated", "one byte", data[:1])
        self.raw_mutant("not json", "random bytes", os.urandom(4096))
        self.raw_mutant("not json", "UTF-16", self.text.encode("utf-16"))
        self.raw_mutant("not json", "UTF-8 with BOM", b"\xef\xbb\xbf" + data)
        self.raw_mutant(
            "not json", "latin-1 byte in a string", data.replace(b'"name": "', b'"name": "\xe9', 1)
        )
        self.raw_mutant("not json", "NUL bytes", data[:100] + b"\0" * 100 + data[100:])
        self.raw_mutant("not json", "two documents", data + data)
        self.raw_mutant("not json", "a JSON string", b'"plan"')
        self.raw_mutant("not json", "a JSON list", b"[1, 2, 3]")

    def _protocols_and_probes(self) -> None:
        protocols = (
            "-".join(["F18", "T1"] * 500 + ["F10"]), "F1e9", "F-1", "F0", "T10", "F10-T",
            "F10--F10", "", "F" * 10_000, "-".join(["F0.001"] * 20_000), "F60-F60-F60",
            "F10-T300", "A5", "F10-T8-F10" + " " * 1_000_000, "F1-" * 21 + "F1", "F inf",
            "F10-T8-F10-T8-F10-T8-F10-T8-F10",
        )  # fmt: skip
        for protocol in protocols:
            self.json_mutant(
                "protocol",
                f"protocol {protocol[:24]!r}",
                lambda d, p=protocol: _set(d, ("protocol",), p),
            )
        probe = self.data["probes"][0]
        for count in (0, 9, 26, 100, 10_000):
            self.json_mutant(
                "probe count", f"{count} probes",
                lambda d, n=count: _set(d, ("probes",), _copies(probe, n)),
            )  # fmt: skip
        self.json_mutant(
            "probe count", "tip = entry",
            lambda d: _set(d, ("probes", 0, "entry_lps_mm"), list(probe["tip_lps_mm"])),
        )  # fmt: skip

    def _companions(self) -> None:
        folder = self.folder
        labels = folder / self.data["case"]["labels_path"]
        table = labels.with_name(labels.name[: -len(".nii.gz")] + ".labels.json")
        fields = folder / self.data["thermal_fields_path"]

        def companion(what: str, name: str, payload: bytes, key: tuple, sha: bool = False) -> None:
            (folder / name).write_bytes(payload)
            if name.endswith(".nii.gz") and not (folder / (name[:-7] + ".labels.json")).exists():
                shutil.copy(table, folder / (name[:-7] + ".labels.json"))

            def change(d: Any) -> None:
                _set(d, key, name)
                if sha:
                    import hashlib

                    d["thermal_fields_sha256"] = hashlib.sha256(payload).hexdigest()

            self.json_mutant("companion", what, change)

        label_bytes = labels.read_bytes()
        companion(
            "labels truncated",
            "cut.labels.nii.gz",
            label_bytes[: len(label_bytes) // 2],
            ("case", "labels_path"),
        )
        companion(
            "labels random bytes", "junk.labels.nii.gz", os.urandom(10_000), ("case", "labels_path")
        )
        for name, text in {
            "t1": "[" * 100_000, "t2": '{"labels": 5}', "t3": '{"labels": [{"value": "x"}]}',
            "t4": table.read_text()[:50],
            "t5": '{"labels": [{"value": 1e308, "name": 1, "color_rgb": "abc"}]}',
        }.items():  # fmt: skip
            shutil.copy(labels, folder / f"{name}.labels.nii.gz")
            (folder / f"{name}.labels.labels.json").write_text(text)
            self.json_mutant(
                "companion", f"label table {text[:20]!r}",
                lambda d, n=name: _set(d, ("case", "labels_path"), f"{n}.labels.nii.gz"),
            )  # fmt: skip
        field_bytes = fields.read_bytes()
        companion(
            "fields truncated, hash matching",
            "cut.fields.npz",
            field_bytes[: len(field_bytes) // 2],
            ("thermal_fields_path",),
            sha=True,
        )
        companion(
            "fields = plan text, hash matching",
            "plan.fields.npz",
            self.text.encode(),
            ("thermal_fields_path",),
            sha=True,
        )
        import io
        import zipfile

        import numpy as np

        buffer = io.BytesIO()
        with (
            zipfile.ZipFile(buffer, "w") as archive,
            archive.open("min_temperature_c.npy", "w") as member,
        ):
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
            )
            member.write(b"\0" * 64)
        companion(
            "fields declaring a 8 TB array, hash matching",
            "huge.fields.npz",
            buffer.getvalue(),
            ("thermal_fields_path",),
            sha=True,
        )

    def _versions_and_hashes(self) -> None:
        for value in (2, 0, "1", 1.5):
            self.json_mutant(
                "version",
                f"schema_version {value!r}",
                lambda d, v=value: _set(d, ("schema_version",), v),
            )
        self.json_mutant(
            "version", "format other", lambda d: _set(d, ("format",), "cryoplan-other")
        )
        self.json_mutant(
            "hash",
            "content_sha256 of another image",
            lambda d: _set(d, ("case", "content_sha256"), "0" * 64),
        )
        self.json_mutant(
            "hash",
            "content_sha256 uppercase",
            lambda d: _set(d, ("case", "content_sha256"), d["case"]["content_sha256"].upper()),
        )
        self.json_mutant(
            "hash",
            "thermal_fields_sha256 wrong",
            lambda d: _set(d, ("thermal_fields_sha256",), "f" * 64),
        )


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def run_mutant(plan_path: Path, command: str, out_dir: Path, timeout_s: float) -> tuple[str, str]:
    """Run the worker on one plan file; return the outcome class and a detail line."""
    if command == "loader":
        argv = [sys.executable, "-c", LOADER, str(plan_path)]
    else:
        out = out_dir / (plan_path.stem + (".pdf" if command == "report" else ".json"))
        argv = [
            sys.executable,
            "-m",
            "planning_core.cli",
            command,
            str(plan_path),
            "--out",
            str(out),
            "--spacing-mm",
            "6",
        ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=timeout_s,
            preexec_fn=_limit_memory, cwd=ROOT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "hang", f"no result after {timeout_s:g} s"
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("[")]
    if "MemoryError" in done.stderr:
        return "memory", lines[-1] if lines else ""
    if "Traceback" in done.stderr or done.returncode not in (0, 2):
        return "traceback", (lines[-1] if lines else f"exit {done.returncode}")
    if done.returncode == 0:
        return ("clean" if not lines else "noise"), done.stdout.strip().splitlines()[-1:][
            0
        ] if done.stdout.strip() else ""
    return ("refused" if len(lines) == 1 else "noise"), (lines[0] if lines else "")


def prepare(folder: Path) -> Path:
    """The kidney sample plan, evaluated on a 4 mm grid, with its image as NIfTI beside it."""
    sys.path.insert(0, str(ROOT / "tests" / "report"))
    from kidney_plan import kidney_plan_file

    from planning_core.imaging.loader import load_image
    from planning_core.imaging.volume_io import write_volume
    from planning_core.planning.plan_json import load_plan, save_plan

    plan_path, _ = kidney_plan_file(folder, spacing_mm=4.0)
    plan = load_plan(plan_path)
    image = folder / "image.nii.gz"
    write_volume(load_image(plan.image_path), image)
    save_plan(plan.with_files(image_path=image), plan_path)
    return plan_path


#: Kinds whose cleanly loading mutants change what is simulated; ``--then-evaluate`` runs them.
EVALUATED_KINDS = (
    "huge number", "probe count", "protocol", "unicode", "path", "companion", "hash",
    "missing key", "wrong type",
)  # fmt: skip
CLASSES = ("clean", "refused", "noise", "traceback", "memory", "hang")


def _round_robin(indices: list[int], mutants: list[Mutant], count: int) -> list[int]:
    """Up to ``count`` of ``indices`` of :data:`EVALUATED_KINDS`, taking each kind in turn."""
    queues = {
        kind: collections.deque(i for i in indices if mutants[i].kind == kind)
        for kind in EVALUATED_KINDS
    }
    chosen: list[int] = []
    while len(chosen) < count and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.popleft())
    return chosen


def _run_all(
    paths: dict[int, Path], command: str, out_dir: Path, args: argparse.Namespace
) -> dict[int, tuple[str, str]]:
    def one(index: int) -> tuple[str, str]:
        return run_mutant(paths[index], command, out_dir, args.timeout_s)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


def _print_table(
    title: str, outcomes: dict[int, tuple[str, str]], mutants: list[Mutant], log: list[str]
) -> list[int]:
    """Print the outcome table; return the indices that ended neither clean nor refused."""
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for index, (outcome, detail) in outcomes.items():
        table[mutants[index].kind][outcome] += 1
        log.append(
            f"{title}\t#{index}\t{mutants[index].kind}\t{mutants[index].what}\t{outcome}\t{detail}"
        )
    print(f"\n{title}\n")
    print("| kind | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---|" * len(CLASSES))
    for kind, counts in table.items():
        print(f"| {kind} | " + " | ".join(str(counts[c]) for c in CLASSES) + " |")
    totals = collections.Counter(outcome for outcome, _ in outcomes.values())
    print("| **all** | " + " | ".join(f"**{totals[c]}**" for c in CLASSES) + " |")
    bad = [i for i, (o, _) in outcomes.items() if o not in ("clean", "refused")]
    if bad:
        print("\nNot clean and not a one-line refusal:")
        for index in bad:
            mutant, (outcome, detail) = mutants[index], outcomes[index]
            print(f"  #{index} {mutant.kind}: {mutant.what}: {outcome}: {detail[:200]}")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", choices=("loader", "evaluate", "report"), default="loader")
    parser.add_argument(
        "--then-evaluate", type=int, default=0, metavar="N",
        help="then run `cryoplan evaluate` on up to N mutants that loaded cleanly (slow)",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--only", type=int, help="run only the mutant with this index")
    parser.add_argument("--keep", type=Path, help="build the mutants in this folder and keep them")
    parser.add_argument("--log", type=Path, help="write one line per mutant and run here")
    parser.add_argument("--kinds", help="comma-separated kinds to run (default: all)")
    args = parser.parse_args()
    log: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-plans-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        plan_path = prepare(folder)
        check = run_mutant(plan_path, args.command, folder, args.timeout_s)
        prepared_s = time.perf_counter() - started
        print(f"prepared {plan_path.name} in {prepared_s:.1f} s; unmutated: {check[0]}")
        if check[0] != "clean":
            print(f"  the valid plan does not load cleanly: {check[1]}")
            return 1
        mutants = Mutator(plan_path).build()
        kinds = None if args.kinds is None else set(args.kinds.split(","))
        indices = [
            index
            for index in ([args.only] if args.only is not None else range(len(mutants)))
            if kinds is None or mutants[index].kind in kinds
        ]
        paths = {}
        for index in indices:
            paths[index] = folder / f"mutant-{index:04d}.json"
            mutants[index].write(paths[index])
        out_dir = folder / "out"
        out_dir.mkdir(exist_ok=True)
        outcomes = _run_all(paths, args.command, out_dir, args)
        elapsed = time.perf_counter() - started
        title = f"{len(outcomes)} mutants, `{args.command}`, {elapsed:.0f} s"
        bad = _print_table(title, outcomes, mutants, log)
        chosen = _round_robin(
            [i for i, (o, _) in outcomes.items() if o == "clean"], mutants, args.then_evaluate
        )
        if chosen:
            started = time.perf_counter()
            evaluated = _run_all({i: paths[i] for i in chosen}, "evaluate", out_dir, args)
            elapsed = time.perf_counter() - started
            title = (
                f"{len(evaluated)} cleanly loading mutants, `cryoplan evaluate`, {elapsed:.0f} s"
            )
            bad += _print_table(title, evaluated, mutants, log)
    if args.log is not None:
        args.log.write_text("\n".join(log) + "\n", encoding="utf-8")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
