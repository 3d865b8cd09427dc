"""A small streaming RNN-CTC speech recognizer. This package's top level is the core, where audio
becomes a model's output:

    audio (16 kHz constants, reading files) -> features (log-mel, normaliser) -> framing (chunks of frames)
    -> model (the GRU/LSTM/RNN network) ; vocab and text (the characters, text in its spoken form);
    config and checkpoint (the model's configuration, saving and loading)

and its rooms, each importing only from the rooms above it in this list:

    asr.decode    log-probabilities -> text: greedy, beam search with an LM, words and times, subtitles
    asr.runtime   running a model: the incremental torch encoder, the int8 kernel, exports, the dispatch
    asr.cli       the `asr` command; the only room that may import stream, train and data

The core imports nothing from its rooms, nor from stream, train or data (tests/test_layout.py).
"""
