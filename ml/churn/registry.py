"""Model versions on disk: one folder per version under a registry folder (the warehouse's,
never git), holding the fitted model (`model.joblib`) and its card (`card.json`).

The card says what the model is: `id`, `model_name`, `created_at`, `horizon_days`,
`training_window`, `features`, `parameters`, `metrics` (the backtest's rows, one per fold and
model), `model_sha256` (the model file's hash) and anything the caller adds under `extra`.

The id is a content hash: the SHA-256 of the model file and of the card without `id` and
`created_at`, shortened to 16 hex digits. Two trainings on the same data give the same model
bytes and the same card, hence the same id, whatever the day; saving it again only updates
`created_at` (the last time it was trained). `created_at` is passed in, never read from the
clock, so that a run and its tests are reproducible.

Saving a version does not make it score: `promote` points `current.json` at the version that
passed the promotion gate (`ml.churn.gates`), and `current` reads it back. A candidate the gate
blocked is saved too (its card says why), so its figures can be looked at, while the previous
version keeps scoring.

The model file is a pickle (joblib): load only what this platform wrote. `load` checks the
file's hash against the card, so a file swapped or truncated on disk is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from ml.churn.train import ChurnModel

MODEL_FILE = "model.joblib"
CURRENT_FILE = "current.json"
CARD_FILE = "card.json"
ID_LENGTH = 16


def _jsonable(value):
    """Plain JSON values: dates and timestamps as ISO strings, numpy scalars as Python ones,
    NaN as null (JSON has no NaN)."""
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict(orient="records"))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat() if value != value.normalize() else str(value.date())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _canonical(card: dict) -> bytes:
    return json.dumps(card, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _utc(value: str | dt.datetime | dt.date) -> pd.Timestamp:
    """A timestamp in UTC; a naive one is taken as UTC already."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _created_at(value: str | dt.datetime | dt.date) -> str:
    return _utc(value).isoformat()


def model_bytes(model: ChurnModel) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def model_card(
    model: ChurnModel,
    *,
    created_at: str | dt.datetime | dt.date,
    horizon_days: int | None = None,
    metrics: pd.DataFrame | list[dict] | None = None,
    extra: dict | None = None,
    model_sha256: str | None = None,
) -> dict:
    """The card of `model`, its id included."""
    sha = model_sha256 or hashlib.sha256(model_bytes(model)).hexdigest()
    content = _jsonable(
        {
            "model_name": model.name,
            "horizon_days": horizon_days,
            "training_window": model.training_window,
            "features": list(model.features),
            "parameters": model.params,
            "metrics": metrics if metrics is not None else [],
            "model_sha256": sha,
            "extra": extra or {},
        }
    )
    model_id = hashlib.sha256(_canonical(content)).hexdigest()[:ID_LENGTH]
    return {"id": model_id, "created_at": _created_at(created_at), **content}


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def save(
    folder: str | Path,
    model: ChurnModel,
    *,
    created_at: str | dt.datetime | dt.date,
    horizon_days: int | None = None,
    metrics: pd.DataFrame | list[dict] | None = None,
    extra: dict | None = None,
) -> dict:
    """Save `model` as a version under `folder` and return its card. The model file is
    written before the card, each atomically, so a version with a card is always complete."""
    data = model_bytes(model)
    card = model_card(
        model,
        created_at=created_at,
        horizon_days=horizon_days,
        metrics=metrics,
        extra=extra,
        model_sha256=hashlib.sha256(data).hexdigest(),
    )
    version = Path(folder) / card["id"]
    version.mkdir(parents=True, exist_ok=True)
    _write_atomically(version / MODEL_FILE, data)
    _write_atomically(version / CARD_FILE, json.dumps(card, indent=2, sort_keys=True).encode())
    return card


def cards(folder: str | Path) -> list[dict]:
    """Every version's card under `folder`, oldest first (by created_at, then id)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob(f"*/{CARD_FILE}")):
        try:
            found.append(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(f"model registry: {path} is not valid JSON ({error})") from error
    return sorted(found, key=lambda c: (_utc(c["created_at"]), c["id"]))


def latest(folder: str | Path) -> dict | None:
    """The card of the most recently created version, or None when there is none."""
    every = cards(folder)
    return every[-1] if every else None


def load(folder: str | Path, model_id: str | None = None) -> tuple[ChurnModel, dict]:
    """A version's model and card (the latest version without `model_id`)."""
    card = latest(folder) if model_id is None else None
    if model_id is not None:
        path = Path(folder) / model_id / CARD_FILE
        if not path.exists():
            raise FileNotFoundError(f"model registry: no version {model_id!r} under {folder}")
        card = json.loads(path.read_text())
    if card is None:
        raise FileNotFoundError(f"model registry: no model version under {folder}; train first")
    model_path = Path(folder) / card["id"] / MODEL_FILE
    data = model_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != card["model_sha256"]:
        raise ValueError(
            f"model registry: {model_path} does not match its card's model_sha256; the file "
            "was changed after saving, retrain (winback run --retrain) rather than load it"
        )
    return joblib.load(io.BytesIO(data)), card


def needs_retraining(
    card: dict | None,
    today: str | dt.date | dt.datetime,
    every_days: int = 7,
    force: bool = False,
) -> bool:
    """Whether to train a new version today: when forced, when there is no model yet, or when
    the current one was created `every_days` or more days before `today` (calendar days,
    UTC)."""
    if force or card is None:
        return True
    if every_days < 1:
        raise ValueError(f"needs_retraining: every_days must be >= 1, got {every_days}")
    age = _utc(today).normalize() - _utc(card["created_at"]).normalize()
    return age.days >= every_days


def promote(folder: str | Path, model_id: str, *, promoted_at: str | dt.datetime | dt.date) -> None:
    """Make version `model_id` the one that scores (atomically: a reader sees the old pointer
    or the new one)."""
    root = Path(folder)
    if not (root / model_id / CARD_FILE).exists():
        raise FileNotFoundError(f"model registry: no version {model_id!r} under {folder}")
    pointer = {"id": model_id, "promoted_at": _created_at(promoted_at)}
    _write_atomically(root / CURRENT_FILE, json.dumps(pointer, indent=2).encode())


def current(folder: str | Path) -> dict | None:
    """The card of the version that scores, or None before any was promoted."""
    path = Path(folder) / CURRENT_FILE
    if not path.exists():
        return None
    try:
        model_id = json.loads(path.read_text())["id"]
    except (json.JSONDecodeError, KeyError) as error:
        raise ValueError(f"model registry: {path} is not a valid pointer ({error})") from error
    card_path = Path(folder) / model_id / CARD_FILE
    if not card_path.exists():
        raise FileNotFoundError(
            f"model registry: {path} points at version {model_id!r}, which is not under "
            f"{folder}; retrain with winback run --retrain"
        )
    return json.loads(card_path.read_text())
