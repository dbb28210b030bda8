#!/usr/bin/env bash
# One entry point for the README's two commands:
#   bash run.sh demo   install everything, then open the kidney sample case in the desktop app
#                      (with --headless, or without a display: plan it and write the PDF report)
#   bash run.sh test   install everything (Python packages and the display libraries the GUI
#                      tests need), then run lint, the architecture contract and the whole suite
#   bash run.sh package  install what the build needs, then `make package` (standalone bundle,
#                      self test under Xvfb, tarball: see packaging/README.md)
# Works on a fresh Debian/Ubuntu machine with Python >= 3.11. Re-running is cheap: the
# virtual environment is reused while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PYTHON=${PYTHON:-python3}
# Debian packages the desktop application needs (Qt's xcb platform plugin, VTK's OpenGL); the
# tests add Xvfb and the tools the report tests use to inspect PDFs and DICOM files.
GUI_PACKAGES=(libgl1 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4
  libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0
  libxcb-cursor0 libxcb-randr0 libxcb-xfixes0 libdbus-1-3 libfontconfig1)
SYSTEM_PACKAGES=(xvfb xauth "${GUI_PACKAGES[@]}" poppler-utils dcmtk)
# The PACS tests start their own Orthanc (DIMSE + DICOMweb); they skip when it cannot be installed.
PACS_TEST_PACKAGES=(orthanc orthanc-dicomweb)

say() { printf '%s\n' "run.sh: $*" >&2; }

need_python() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "python3 not found. Install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)."
    exit 1
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    say "Python 3.11 or newer is needed; $("$PYTHON" --version 2>&1) was found."
    exit 1
  fi
  if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    install_system_packages python3-venv
  fi
}

install_system_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local apt=(apt-get)
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      apt=(sudo apt-get)
    else
      say "missing Debian packages: ${missing[*]}"
      say "install them as root: apt-get install -y ${missing[*]}"
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing system packages (Debian names): ${missing[*]}; install them with your package manager."
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  say "installing Python packages into $VENV (first run takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
}

case "${1:-}" in
  demo)
    need_python
    shift
    mode=gui
    if [ "${1:-}" = "--headless" ]; then
      mode=headless
      shift
    elif [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      say "no display found: running the headless demo (plan + PDF report) instead"
      mode=headless
    fi
    install_python_packages
    if [ "$mode" = gui ]; then
      install_system_packages "${GUI_PACKAGES[@]}"
      exec "$VENV/bin/cryoplan" gui kidney "$@"
    fi
    # Headless: optimise a plan for the kidney sample's tumor (its ground-truth label map) and
    # write the PDF report; both land in out/kidney/.
    out=out/kidney
    mkdir -p "$out"
    labels=$("$VENV/bin/python" -c \
      'from cryoplan_samples import ensure_sample_case; print(ensure_sample_case("kidney").labels_path)')
    "$VENV/bin/cryoplan" plan kidney --labels "$labels" --out "$out/kidney.cryoplan.json" "$@"
    "$VENV/bin/cryoplan" report "$out/kidney.cryoplan.json" --out "$out/kidney-report.pdf"
    say "plan: $out/kidney.cryoplan.json  report: $out/kidney-report.pdf"
    ;;
  test)
    need_python
    install_system_packages "${SYSTEM_PACKAGES[@]}"
    # A subshell: a failed Orthanc install must not stop the run (those tests then skip).
    ( install_system_packages "${PACS_TEST_PACKAGES[@]}" ) ||
      say "Orthanc could not be installed: the PACS tests will be skipped"
    install_python_packages
    shift
    say "ruff"
    "$VENV/bin/ruff" check .
    say "architecture contracts (import-linter)"
    "$VENV/bin/lint-imports"
    say "pytest"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  package)
    need_python
    install_system_packages make xvfb xauth "${GUI_PACKAGES[@]}"
    install_python_packages
    exec make package
    ;;
  *)
    say "usage: bash run.sh demo | bash run.sh test [pytest options] | bash run.sh package"
    exit 2
    ;;
esac
