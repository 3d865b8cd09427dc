# Two commands on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := espeak-ng flite ffmpeg libsndfile1 libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils

.PHONY: demo test setup system-packages clean

demo: setup
	@echo "== asr transcribe asr/assets/sample.flac"
	$(VENV)/bin/asr transcribe asr/assets/sample.flac
	@echo "(reference: $$(cat asr/assets/sample.txt))"
	@echo "== asr transcribe asr/assets/sample.flac --decoder beam  (beam search with the bundled word 3-gram LM)"
	$(VENV)/bin/asr transcribe asr/assets/sample.flac --decoder beam
	@echo "== asr stream asr/assets/sample.flac --realtime  (the streaming path, paced like a microphone)"
	$(VENV)/bin/asr stream asr/assets/sample.flac --realtime --stats
	@echo "With a microphone: .venv/bin/asr live   (asr devices lists inputs; Ctrl-C stops)"

test: setup
	$(PY) -m pytest -q tests

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | system-packages
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $@

# Debian packages: installed when run as root, otherwise the exact command is printed.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else \
		echo "missing Debian packages; run: sudo apt-get install -y$$missing"; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
