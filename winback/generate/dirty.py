"""Which event rows are made dirty, and how (one of DIRTY_KINDS each)."""

from __future__ import annotations

import numpy as np

from winback.generate.helpers import random_stream
from winback.generate.vocabulary import DIRTY_KINDS, STREAM_DIRTY


def pick_dirty(n_events: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (sorted positions) made dirty and their kind (index into DIRTY_KINDS)."""
    if share <= 0 or n_events == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    total = int(round(share * n_events))
    if n_events >= 100:  # small test runs still get one row of every kind
        total = max(total, len(DIRTY_KINDS))
    total = min(total, n_events)
    rng = random_stream(seed, STREAM_DIRTY)
    pos = np.sort(rng.choice(n_events, total, replace=False))
    kinds = (np.arange(total) % len(DIRTY_KINDS)).astype(np.int8)
    rng.shuffle(kinds)
    return pos, kinds
