"""Level ranges shared by the augmenters (train.augment) and the help text of `asr train`.

Kept free of torch so that `asr --help` can quote them without loading it.
"""
GAIN_DB = (-20.0, 6.0)  # --gain (waveform) and --feature-gain (features): quieter or louder recordings

GAIN_RANGE = f"{GAIN_DB[0]:+g}..{GAIN_DB[1]:+g} dB"  # as the help text prints it
