#!/bin/sh
# Pack the built bundle with the desktop integration into
# dist/cryoplan-<version>-linux-<arch>.tar.gz (called by `make package`).
#   packaging/linux/build_tarball.sh VERSION [DIST_DIR]
set -eu
version=$1
dist=${2:-dist}
here=$(cd "$(dirname "$0")" && pwd)
bundle=$dist/cryoplan-planner
[ -x "$bundle/cryoplan-planner" ] || { echo "build_tarball.sh: build the bundle first ($bundle)" >&2; exit 1; }
name=cryoplan-$version-linux-$(uname -m)
stage=$dist/$name
rm -rf "$stage"
mkdir -p "$stage"
cp -R "$bundle" "$stage/cryoplan-planner"
cp "$here/cryoplan.desktop" "$here/cryoplan.svg" "$here/cryoplan.png" "$here/cryoplan-planner.sh" \
  "$here/install.sh" "$stage/"
chmod 755 "$stage/install.sh" "$stage/cryoplan-planner.sh"
tar -C "$dist" -czf "$dist/$name.tar.gz" "$name"
rm -rf "$stage"
echo "$dist/$name.tar.gz"
