"""The PyInstaller recipe's inputs, checked without building the bundle."""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import bundle_contents as contents  # noqa: E402

#: Where each of our packages lives in the repository.
PACKAGE_DIRS = {
    "planning_core": ROOT / "planning_core",
    "cryoplan_app": ROOT / "app" / "cryoplan_app",
    "cryoplan_samples": ROOT / "sample_data" / "cryoplan_samples",
}
RESOURCE_CALL = re.compile(r"resources\.files\(\s*([^)]*?)\s*\)\s*\.joinpath\(([^)]*)\)")
LINUX = ROOT / "packaging" / "linux"


def _recipe_sources() -> set[Path]:
    return {(ROOT / source).resolve() for source, _target in contents.DATA_FILES}


def test_recipe_inputs_exist() -> None:
    missing = [source for source, _ in contents.DATA_FILES if not (ROOT / source).is_file()]
    assert missing == []
    assert (ROOT / contents.ENTRY_SCRIPT).is_file()
    for name in ("cryoplan.desktop", "cryoplan.svg", "cryoplan.png", "install.sh"):
        assert (LINUX / name).is_file(), name
    assert set(contents.OWN_PACKAGES) == set(PACKAGE_DIRS)


def test_data_files_land_in_their_package_folder() -> None:
    for source, target in contents.DATA_FILES:
        package_relative = Path(source)
        for root in (Path("app"), Path("sample_data")):
            if package_relative.is_relative_to(root):
                package_relative = package_relative.relative_to(root)
        assert package_relative.parent == Path(target), source


def test_every_non_python_package_file_is_in_the_recipe() -> None:
    shipped = []
    for folder in PACKAGE_DIRS.values():
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py":
                shipped.append(path.resolve())
    assert shipped, "no package data found: the walk is wrong"
    assert sorted(set(shipped) - _recipe_sources()) == []


def test_every_resource_the_code_opens_is_in_the_recipe() -> None:
    opened = []
    for folder in PACKAGE_DIRS.values():
        for path in folder.rglob("*.py"):
            text = path.read_text("utf-8")
            for package_arg, parts_arg in RESOURCE_CALL.findall(text):
                package = _string_value(package_arg, text)
                parts = [ast.literal_eval(p.strip()) for p in parts_arg.split(",") if p.strip()]
                package_dir = PACKAGE_DIRS[package.split(".")[0]]
                module_dir = package_dir.joinpath(*package.split(".")[1:])
                opened.append(module_dir.joinpath(*parts).resolve())
    assert len(opened) >= 3, "the resources.files(...) calls were not found"
    assert sorted(set(opened) - _recipe_sources()) == []


def _string_value(argument: str, module_text: str) -> str:
    """A string literal, or the literal a module-level constant of that name holds."""
    if argument[:1] in "\"'":
        return ast.literal_eval(argument)
    match = re.search(rf"^{re.escape(argument)}\s*=\s*(['\"][^'\"]+['\"])", module_text, re.M)
    assert match, f"cannot resolve {argument}"
    return ast.literal_eval(match.group(1))


def test_metadata_and_plugins_are_installed() -> None:
    for name in contents.METADATA_DISTRIBUTIONS:
        importlib.metadata.distribution(name)
    for name in contents.PLUGIN_MODULES:
        importlib.import_module(name)
    commands = importlib.metadata.distribution("cryoplanner").entry_points
    assert "gui" in {ep.name for ep in commands if ep.group == "cryoplan.commands"}


def test_excluded_modules_are_not_used_by_the_app() -> None:
    imported = set()
    for folder in PACKAGE_DIRS.values():
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    imported |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    clashes = {
        name
        for name in imported
        for excluded in contents.EXCLUDED_MODULES
        if name == excluded or name.startswith(excluded + ".")
    }
    assert clashes == set()
    whole_packages = {name for name in contents.EXCLUDED_MODULES if "." not in name}
    assert whole_packages & {name.split(".")[0] for name in imported} == set()


def test_spec_is_valid_python_reading_the_contents_module() -> None:
    spec = (ROOT / "packaging" / "cryoplan.spec").read_text("utf-8")
    ast.parse(spec)
    for name in ("DATA_FILES", "METADATA_DISTRIBUTIONS", "EXCLUDED_MODULES", "PLUGIN_MODULES"):
        assert f"contents.{name}" in spec


def test_desktop_entry_is_valid() -> None:
    path = LINUX / "cryoplan.desktop"
    validator = shutil.which("desktop-file-validate")
    if validator is not None:
        result = subprocess.run([validator, str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(path, encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"].split()[0] == contents.APP_NAME == desktop["TryExec"]
    assert (LINUX / f"{desktop['Icon']}.svg").is_file()
    assert desktop["Terminal"] == "false"


def test_icon_png_is_256_px() -> None:
    data = (LINUX / "cryoplan.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (256, 256)


def test_install_script_installs_and_uninstalls_into_a_home(tmp_path: Path) -> None:
    unpacked = tmp_path / "unpacked"
    bundle = unpacked / "cryoplan-planner"
    bundle.mkdir(parents=True)
    fake = bundle / "cryoplan-planner"
    fake.write_text('#!/bin/sh\necho bundle "$@"\n')
    fake.chmod(0o755)
    for name in ("install.sh", "cryoplan-planner.sh", "cryoplan.desktop", "cryoplan.png",
                 "cryoplan.svg"):  # fmt: skip
        shutil.copy(LINUX / name, unpacked / name)
    home = tmp_path / "home"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    subprocess.run(["sh", str(unpacked / "install.sh")], env=env, check=True, capture_output=True)
    launcher = home / ".local" / "bin" / "cryoplan-planner"
    run = subprocess.run([str(launcher), "plan", "kidney"], capture_output=True, text=True)
    assert run.stdout.strip() == "bundle plan kidney"
    desktop = (home / ".local/share/applications/cryoplan.desktop").read_text()
    assert f"Exec={launcher} %F" in desktop
    assert (home / ".local/share/icons/hicolor/256x256/apps/cryoplan.png").is_file()
    subprocess.run(
        ["sh", str(unpacked / "install.sh"), "--uninstall"], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    assert not launcher.exists() and not (home / ".local/lib/cryoplan-planner").exists()
