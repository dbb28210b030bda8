#!/bin/sh
# Install the Cryoablation Planner from this unpacked tarball.
#   ./install.sh              into ~/.local (no root needed)
#   ./install.sh --system     into /opt/cryoplan-planner, /usr/local/bin, /usr/share (as root)
#   ./install.sh --uninstall  [--system] remove what the same command installed
# The bundle needs no Python: only glibc, X11/xcb (or Wayland) and OpenGL libraries.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=user
action=install
for arg in "$@"; do
  case "$arg" in
    --system) mode=system ;;
    --uninstall) action=uninstall ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --system, --uninstall)" >&2; exit 2 ;;
  esac
done
if [ "$mode" = system ]; then
  app_dir=/opt/cryoplan-planner
  bin_dir=/usr/local/bin
  share_dir=/usr/share
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: --system needs root (sudo ./install.sh --system)" >&2
    exit 1
  fi
else
  data_home=${XDG_DATA_HOME:-$HOME/.local/share}
  app_dir=$HOME/.local/lib/cryoplan-planner
  bin_dir=$HOME/.local/bin
  share_dir=$data_home
fi
desktop=$share_dir/applications/cryoplan.desktop
icon_png=$share_dir/icons/hicolor/256x256/apps/cryoplan.png
icon_svg=$share_dir/icons/hicolor/scalable/apps/cryoplan.svg

refresh_caches() {
  command -v update-desktop-database >/dev/null 2>&1 &&
    update-desktop-database -q "$share_dir/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 &&
    gtk-update-icon-cache -q -t "$share_dir/icons/hicolor" 2>/dev/null || true
}

if [ "$action" = uninstall ]; then
  rm -rf "$app_dir"
  rm -f "$bin_dir/cryoplan-planner" "$desktop" "$icon_png" "$icon_svg"
  refresh_caches
  echo "removed the Cryoablation Planner from $app_dir"
  exit 0
fi

[ -x "$here/cryoplan-planner/cryoplan-planner" ] || {
  echo "install.sh: $here/cryoplan-planner/cryoplan-planner is missing; unpack the whole tarball" >&2
  exit 1
}
mkdir -p "$(dirname "$app_dir")" "$bin_dir" "$(dirname "$desktop")" "$(dirname "$icon_png")" \
  "$(dirname "$icon_svg")"
# Copy next to the target and swap, so that a failed copy leaves the old version working.
rm -rf "$app_dir.new"
cp -R "$here/cryoplan-planner" "$app_dir.new"
rm -rf "$app_dir"
mv "$app_dir.new" "$app_dir"
sed "s#@APP_DIR@#$app_dir#" "$here/cryoplan-planner.sh" > "$bin_dir/cryoplan-planner"
chmod 755 "$bin_dir/cryoplan-planner"
# Absolute Exec/TryExec: desktop sessions do not always have ~/.local/bin on their PATH.
sed -e "s#^Exec=cryoplan-planner#Exec=$bin_dir/cryoplan-planner#" \
  -e "s#^TryExec=cryoplan-planner#TryExec=$bin_dir/cryoplan-planner#" \
  "$here/cryoplan.desktop" > "$desktop"
cp "$here/cryoplan.png" "$icon_png"
cp "$here/cryoplan.svg" "$icon_svg"
refresh_caches
echo "installed into $app_dir; start it from the menu (Cryoablation Planner) or run $bin_dir/cryoplan-planner"
echo "check the installation with: xvfb-run -a $bin_dir/cryoplan-planner --self-test (or without xvfb-run on a desktop)"
