# bmlocal: `make demo` runs the main job, `make test` runs the suite; each sets itself up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bmlocal-installed

.PHONY: venv demo test images images-cuda bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/install-frameworks.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	scripts/install-frameworks.sh $(VENV)
	touch $(STAMP)

demo: venv
	$(PY) examples/demo.py

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

images: venv
	scripts/build-images.sh

images-cuda: venv
	scripts/build-images.sh --cuda

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .bmlocal build *.egg-info
