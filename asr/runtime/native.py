"""Native libraries that print to the console: KenLM's loading chatter, libtorch's C++ warnings."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

__all__ = ["quiet_native_stderr"]


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code writes straight to file descriptor 2 (and Python warnings) inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
