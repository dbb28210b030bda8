#!/usr/bin/env bash
# One entry point for the README's two commands:
#   bash run.sh demo   install everything, then run the main job on the bundled kidney case
#   bash run.sh test   install everything (Python packages and the display libraries the GUI
#                      tests need), then run lint, the architecture contract and the whole suite
# Works on a fresh Debian/Ubuntu machine with Python >= 3.11. Re-running is cheap: the
# virtual environment is reused while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PYTHON=${PYTHON:-python3}
# Debian packages the GUI tests need (Qt's xcb platform plugin and VTK's OpenGL under Xvfb),
# and the tools the report tests use to inspect PDFs and DICOM files.
SYSTEM_PACKAGES=(xvfb xauth libgl1 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4
  libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0
  libxcb-cursor0 libxcb-randr0 libxcb-xfixes0 libdbus-1-3 libfontconfig1 poppler-utils dcmtk)

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
    install_python_packages
    shift
    exec "$VENV/bin/cryoplan" info kidney "$@"
    ;;
  test)
    need_python
    install_system_packages "${SYSTEM_PACKAGES[@]}"
    install_python_packages
    shift
    say "ruff"
    "$VENV/bin/ruff" check .
    say "architecture contracts (import-linter)"
    "$VENV/bin/lint-imports"
    say "pytest"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    say "usage: bash run.sh demo | bash run.sh test [pytest options]"
    exit 2
    ;;
esac
