#!/bin/sh
# Launcher that install.sh puts on the PATH (bin/cryoplan-planner): starts the bundle.
# install.sh replaces @APP_DIR@ with the folder the bundle was installed into.
exec "@APP_DIR@/cryoplan-planner" "$@"
