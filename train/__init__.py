"""Training: one readable loop (loop) over its inputs (config, inputs, dataset, sampler, augment, effects, levels),
its state and logs (state, runlog, schedule, distributed), evaluation (evaluate, errors), checkpoint averaging
(average), and `asr compare` (the compare room). Imports asr and data; nothing in asr's core imports it.
"""
