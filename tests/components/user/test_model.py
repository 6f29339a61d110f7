"""The model builds, trains on a few batches, and is deterministic under its seed."""
import numpy as np
import tensorflow as tf

from components.user import model as model_lib
from components.user.preprocessing import transformed_name

SETTINGS = {**model_lib.DEFAULTS, "label": "species"}


def _dataset(rows, batch_size=16):
    label = transformed_name("species")
    features = {k: np.stack([r[k] for r in rows]) for k in rows[0] if k != label}
    labels = np.stack([r[label] for r in rows])
    return tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(batch_size)


def test_model_trains_on_a_few_batches(transform_output):
    tft_output, rows = transform_output
    model = model_lib.fit(tft_output, _dataset(rows), _dataset(rows), SETTINGS, 40, 2)
    assert model.output_shape == (None, 3)
    loss, accuracy = model.evaluate(_dataset(rows).take(4), verbose=0)
    untrained = model_lib.build_model(tft_output, SETTINGS)
    untrained_loss, _ = untrained.evaluate(_dataset(rows).take(4), verbose=0)
    assert loss < untrained_loss
    assert accuracy > 0.7


def test_same_seed_same_weights(transform_output):
    tft_output, rows = transform_output
    first = model_lib.fit(tft_output, _dataset(rows), _dataset(rows), SETTINGS, 10, 1)
    second = model_lib.fit(tft_output, _dataset(rows), _dataset(rows), SETTINGS, 10, 1)
    other = model_lib.fit(tft_output, _dataset(rows), _dataset(rows), {**SETTINGS, "seed": 7}, 10, 1)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first.get_weights(), other.get_weights()))
