"""Two small real models (different seeds) exported by the user model code, one session each,
and a real server over a push destination on a free port."""
from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Dict

import pytest

from tests.conftest import span_file

TRAIN_STEPS = 30


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory) -> Dict[int, str]:
    """{seed: SavedModel folder} for seeds 42 and 7, trained on span 1 for a few steps."""
    from components import model as model_lib
    from tests.components.test_model import SETTINGS, _dataset
    from tests.components.transform_util import analyze_and_transform
    import tensorflow_transform as tft

    base = tmp_path_factory.mktemp("models")
    transform_dir = str(base / "transform")
    rows = analyze_and_transform(span_file(1), transform_dir)
    tft_output = tft.TFTransformOutput(transform_dir)
    models = {}
    for seed in (42, 7):
        settings = {**SETTINGS, "seed": seed}
        model = model_lib.fit(tft_output, _dataset(rows), _dataset(rows), settings, TRAIN_STEPS, 1)
        folder = str(base / f"seed-{seed}")
        model_lib.export(model, SimpleNamespace(transform_output=transform_dir, custom_config=settings,
                                                serving_model_dir=folder))
        models[seed] = folder
    return models


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
