# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests need; installed when missing, skipped when present.
APT_TEST := libimage-exiftool-perl ffmpeg tesseract-ocr tesseract-ocr-chi-sim fonts-noto-cjk \
            fontconfig espeak-ng chromium
APT_DEMO := fonts-noto-cjk fontconfig
PYTEST_ARGS ?= -n 2

.PHONY: test demo bench lint typecheck system-deps demo-deps venv clean

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing \
	    >/dev/null; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_TEST))

demo-deps:
	$(call apt_install,$(APT_DEMO))

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check src tests benchmarks examples

typecheck: venv
	$(BIN)/mypy

test: system-deps venv lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

demo: demo-deps venv
	$(BIN)/python examples/demo.py

bench: system-deps venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
