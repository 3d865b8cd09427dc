"""Corpora: reading the LibriSpeech layout (librispeech), importing other layouts into it (importers),
speaking synthetic ones (synth, voices), fetching LibriSpeech and impulse responses (download, rirs), and
small real checks (pocketsphinx_clips, word_timing, pack). Imports the asr core; never train or stream.
"""
