"""``preprocessing_fn`` for Transform: impute missing values, vocabularies, z-scores.

Generic over the dataset: every string feature gets a vocabulary, every numeric one a
z-score, missing values are imputed (the mean for numbers, an out-of-vocabulary bucket
for strings, which is also where values unseen in training go). The label (its task and,
for an integer class label, its classes) and the features to leave out come from the
pipeline config through Transform's ``custom_config``.
"""
from __future__ import annotations

from typing import Any, Dict

import tensorflow as tf
import tensorflow_transform as tft

from components.lib.label import Label, from_custom_config

OOV_BUCKETS = 1


def transformed_name(key: str) -> str:
    """Name of a feature after Transform; keeps raw and transformed features apart in TFMA."""
    return f"{key}_xf"


def label_vocabulary_name(label: str) -> str:
    return label


def _fill(value: tf.Tensor | tf.SparseTensor, default: Any) -> tf.Tensor:
    """A [batch, 1] dense tensor; rows with no value get ``default``."""
    if not isinstance(value, tf.SparseTensor):
        return tf.reshape(value, [-1, 1])
    dense_shape = tf.stack([value.dense_shape[0], 1])
    sparse = tf.SparseTensor(value.indices, value.values, dense_shape)
    return tf.sparse.to_dense(sparse, default_value=tf.cast(default, value.dtype))


def _z_score(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    if isinstance(value, tf.SparseTensor):
        value = tf.SparseTensor(value.indices, tf.cast(value.values, tf.float32), value.dense_shape)
    else:
        value = tf.cast(value, tf.float32)
    mean = tft.mean(value)  # over present values only: missing ones do not drag it
    std = tf.sqrt(tft.var(value))
    return tf.math.divide_no_nan(_fill(value, mean) - mean, std)


def _label(value: tf.Tensor | tf.SparseTensor, label: Label) -> tf.Tensor:
    """A regression target as a float; an integer class as its class id (value minus the
    smallest class); a string class through a vocabulary."""
    if label.regression:
        return tf.cast(_fill(value, 0), tf.float32)  # schema presence 1.0: nothing is filled
    if label.integer:
        return _fill(value, label.offset) - label.offset
    # No OOV bucket: an unknown label is a data error the validation gate stops first.
    return tft.compute_and_apply_vocabulary(_fill(value, ""),
                                            vocab_filename=label_vocabulary_name(label.name))


def preprocessing_fn(inputs: Dict[str, Any], custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
    """Maps raw features to model-ready ``<name>_xf`` features, each of shape [batch, 1]."""
    label = from_custom_config(custom_config)
    excluded = set(custom_config.get("exclude_features", []))
    outputs: Dict[str, tf.Tensor] = {}
    for key, value in sorted(inputs.items()):
        if key in excluded:
            continue
        if key == label.name:
            outputs[transformed_name(key)] = _label(value, label)
        elif value.dtype == tf.string:
            # The vocabulary covers present values only; a missing one lands in the OOV bucket.
            present = value.values if isinstance(value, tf.SparseTensor) else value
            vocabulary = tft.vocabulary(present, vocab_filename=key)
            outputs[transformed_name(key)] = tft.apply_vocabulary(
                _fill(value, ""), vocabulary, num_oov_buckets=OOV_BUCKETS)
        else:
            outputs[transformed_name(key)] = _z_score(value)
    return outputs
