"""What `asr bench` measures: measure (streaming and offline speed, memory, PocketSphinx on the same
audio) and audio (the speech it measures on: synthetic, or a corpus subset). In the CLI room because it
streams through stream.Recognizer; train.compare uses its streaming measurement too.
"""
