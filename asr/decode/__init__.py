"""Decoding: a model's log-probabilities -> text.

    greedy      best path, collapse repeats, drop blanks
    beam        CTC beam search (flashlight-text) with a word n-gram LM and hot-words
    lm          building and checking n-gram LMs, the lexicon the beam search needs
    words       words, their times and confidences from a decoded path
    align       forced alignment of a known text (emission delay, word timing checks)
    subtitles   SRT and WebVTT cues

Imports the core (asr.vocab, asr.text, asr.model) and asr.runtime (align runs the encoder); never
stream, train or data.
"""
