# Two commands on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := espeak-ng flite ffmpeg libsndfile1 libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils \
	chromium chromium-driver

.PHONY: demo test setup system-packages voices corpora clean

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

# The corpora the bundled model is trained and measured on (docs/default-model.md, "Data"): the real speech of
# ../shared/data/speech imported, the pocketsphinx-testdata clips, the synthetic dev/test sets, the three
# synthetic training mixtures and the number-rich ones (data/numbers.py), all linked under
# $(CORPORA)/all. Every step is idempotent: a rerun skips what exists. About 40 minutes on 2 cores; needs
# `make voices` (run first) and Debian's pocketsphinx-testdata.
CORPORA ?= corpora
SPEECH  ?= ../shared/data/speech
TEXT    ?= ../shared/data/text/sentences.txt.gz
NUMTEXT := $(CORPORA)/text/numbers.txt.gz
ASR     := $(VENV)/bin/asr
# `asr synth` refuses a subset that has files; a stamp marks each one made whole, so a rerun skips it
# $(SYNTH) NAME TEXT ARGS...: asr synth --subset NAME --text TEXT ARGS, unless NAME was made already
SYNTH   := f() { n=$$1; t=$$2; shift 2; test -f $(CORPORA)/synth/.$$n.done && { echo "$$n: made already"; return 0; }; \
	echo "asr synth --subset $$n --text $$t $$*"; \
	$(ASR) synth --text $$t --out $(CORPORA)/synth --subset $$n "$$@" && touch $(CORPORA)/synth/.$$n.done; }; f
corpora: setup voices
	@dpkg -s pocketsphinx-testdata >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q pocketsphinx-testdata; \
		else echo "run: sudo apt-get install -y pocketsphinx-testdata"; exit 1; fi; }
	$(ASR) import kaldi $(SPEECH)/speechocean762/train $(SPEECH)/speechocean762/test --out $(CORPORA)/real \
		--subset so762 --dev-speakers 20
	$(ASR) import ljspeech $(SPEECH)/ljspeech --out $(CORPORA)/real --subset lj002
	$(ASR) import fsdd $(SPEECH)/fsdd --out $(CORPORA)/real --subset fsdd
	$(ASR) import commands $(SPEECH)/speech_commands --out $(CORPORA)/real --subset commands
	$(ASR) join --data $(CORPORA)/real --subset commands --name commands-joined
	$(PY) -m data.pocketsphinx_clips --out $(CORPORA)/real --set librivox
	$(PY) -m data.pocketsphinx_clips --out $(CORPORA)/real --set cards
	@$(SYNTH) synth-dev $(TEXT) --hours 0.5 --split dev --seed 1
	@$(SYNTH) synth-test $(TEXT) --hours 0.5 --split dev --exclude-subset synth-dev --seed 3 --workers 1
	@$(SYNTH) synth-dev-new $(TEXT) --hours 0.2 --voices rhvoice,pico --split dev --seed 1 --workers 1
	@$(SYNTH) synth-mix $(TEXT) --hours 4 --voices all --split train --seed 5 --workers 2
	@$(SYNTH) synth-mix2 $(TEXT) --hours 6 --voices all --split train --seed 6 --workers 2
	@$(SYNTH) synth-mix3 $(TEXT) --hours 6 --voices all --split train --seed 7 --workers 2
	$(PY) -m data.numbers --text $(TEXT) --out $(NUMTEXT) --count 40000 --seed 0
	@$(SYNTH) synth-num $(NUMTEXT) --hours 2 --voices all --split train --seed 8 --workers 2
	@$(SYNTH) synth-num2 $(NUMTEXT) --hours 4 --voices all --split train --seed 10 --workers 2 \
		--exclude-subset synth-num
	@$(SYNTH) synth-num-dev $(NUMTEXT) --hours 0.2 --voices all --split dev --seed 9 --workers 2
	mkdir -p $(CORPORA)/all/LibriSpeech
	for d in $(CORPORA)/real/LibriSpeech/* $(CORPORA)/synth/LibriSpeech/*; do \
		ln -sfn "$$(cd "$$d" && pwd)" $(CORPORA)/all/LibriSpeech/$$(basename "$$d"); done
	@echo "corpora ready: asr eval --data $(CORPORA)/all --subset lj002"

clean:
	rm -rf $(VENV) build *.egg-info
