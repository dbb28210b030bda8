# Standalone desktop application (issue 9); the tests stay with `bash run.sh test`.
#   make package        build dist/cryoplan-planner/, self-test it under Xvfb, pack the tarball
#   make package-test   self-test the built bundle again (no rebuild)
#   make package-clean  remove the build outputs
PYTHON ?= .venv/bin/python
DIST := dist
BUNDLE := $(DIST)/cryoplan-planner
XVFB := xvfb-run -a -s "-screen 0 1600x1000x24"
VERSION = $(shell $(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

.PHONY: package package-bundle package-test package-clean

package: package-bundle package-test
	sh packaging/linux/build_tarball.sh $(VERSION) $(DIST)

package-bundle:
	$(PYTHON) -m pip install -q -e '.[package]'
	$(PYTHON) -m PyInstaller packaging/cryoplan.spec --noconfirm --distpath $(DIST) \
		--workpath build/pyinstaller

# No Python on the PATH and no PYTHONPATH/PYTHONHOME: the bundle must stand alone.
package-test:
	env -i PATH=/usr/bin:/bin HOME="$(HOME)" $(XVFB) $(BUNDLE)/cryoplan-planner --self-test

package-clean:
	rm -rf build/pyinstaller $(BUNDLE) $(DIST)/cryoplan-*-linux-*.tar.gz
