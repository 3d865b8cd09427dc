"""Checkpoints: a plain dict (config, vocabulary, weights incl. normalisation statistics, metadata),
loadable with torch.load(weights_only=True). `load_model(path)` needs nothing else."""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, fields
from pathlib import Path

import torch

from .config import DEFAULT_MODEL, ModelError
from .model import AcousticModel, ModelConfig
from .vocab import VOCAB

FORMAT_VERSION = 1

__all__ = ["DEFAULT_MODEL", "ModelError", "atomic_save", "checkpoint_dict", "save_model", "load_model", "model_from_dict"]


def checkpoint_dict(model: AcousticModel, meta: dict | None = None) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "config": asdict(model.config),
        "vocab": list(VOCAB),
        "normalization": {"mean": model.normalizer.mean.tolist(), "std": model.normalizer.std.tolist()},
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }


def atomic_save(obj: dict, path: str | Path) -> None:
    """torch.save that never leaves a torn file: a temporary file in the same folder, flushed to disk,
    then renamed over `path` (and the rename made durable). A process killed at any moment leaves
    either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_model(path: str | Path, model: AcousticModel, meta: dict | None = None) -> None:
    atomic_save(checkpoint_dict(model, meta), path)


def model_from_dict(ckpt: dict) -> AcousticModel:
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise ModelError("not a model checkpoint of this project (no config/weights)")
    if list(ckpt.get("vocab", [])) != list(VOCAB):
        raise ModelError("checkpoint vocabulary differs from this version's vocabulary")
    known = {f.name for f in fields(ModelConfig)}
    try:
        config = ModelConfig(**{k: v for k, v in ckpt["config"].items() if k in known})
        model = AcousticModel(config)
        model.load_state_dict(ckpt["model"])
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"checkpoint does not match the model: {str(e).splitlines()[0]}") from None
    return model.eval()


def load_model(path: str | Path | None = None) -> AcousticModel:
    """Load a checkpoint (default: the bundled model) in eval mode on the CPU."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before failing
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and unpickling errors all mean "corrupt"
        raise ModelError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    try:
        model = model_from_dict(ckpt)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    model.meta = ckpt.get("meta", {})
    return model
