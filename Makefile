# Two commands on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := espeak-ng flite ffmpeg libsndfile1 libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils \
	chromium chromium-driver

.PHONY: demo test setup system-packages voices clean

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

# The extra synthetic voices of `asr synth --voices rhvoice,pico` (RHVoice in Debian contrib, SVOX Pico in
# non-free): enables those components and installs them when run as root, otherwise prints the commands.
# Neither demo nor the runtime needs them.
VOICE_PACKAGES := rhvoice rhvoice-english libttspico-utils
voices:
	@missing=""; for p in $(VOICE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "voices installed:$(VOICE_PACKAGES)"; exit 0; fi; \
	enable="sed -i 's/^Components: main\$$/Components: main contrib non-free/' /etc/apt/sources.list.d/debian.sources"; \
	if [ "$$(id -u)" = 0 ]; then \
		if [ -f /etc/apt/sources.list.d/debian.sources ]; then \
			sed -i 's/^Components: main$$/Components: main contrib non-free/' /etc/apt/sources.list.d/debian.sources; \
		fi; \
		if [ -f /etc/apt/sources.list ]; then \
			sed -i -E '/^deb .* main$$/s/ main$$/ main contrib non-free/' /etc/apt/sources.list; \
		fi; \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else \
		echo "the voices need Debian's contrib and non-free components; run:"; \
		echo "  sudo $$enable"; \
		echo "  sudo apt-get update && sudo apt-get install -y$$missing"; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
