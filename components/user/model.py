"""The Trainer's ``run_fn``: a small seeded Keras MLP over Transform's features, a
classifier or (``task: regression`` in ``custom_config``) a regressor.

The exported SavedModel has three signatures:

* ``serving_default`` takes raw serialized ``tf.Example`` s (no label) and returns
  ``probabilities``, ``class_ids`` and ``classes`` (the label's own values, as strings); a
  regressor returns ``predictions`` in the label's units;
* ``serving_raw`` takes one tensor per raw feature (no label), one value per row, and
  returns the same outputs as ``serving_default`` for the same rows: for clients sending
  plain JSON rows (left out when a column name is not a Python identifier);
* ``transform_features`` takes raw serialized examples and returns the transformed
  features; TFMA uses it to get the transformed label.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Dict, List, Tuple

import tensorflow as tf
from absl import logging
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from components.lib.label import Label, from_custom_config
from components.user.preprocessing import OOV_BUCKETS, label_vocabulary_name, transformed_name

PREDICTIONS = "predictions"  # a regressor's serving output, in the label's units
RAW_SIGNATURE = "serving_raw"  # one input per raw feature instead of serialized examples
DEFAULTS: Dict[str, Any] = {"batch_size": 32, "hidden_units": [16, 8], "learning_rate": 0.01,
                            "seed": 42}
# A regressor learns the target as a z-score; its mean and spread are estimated from this
# many training batches (seeded, so the same every run) and folded into the signature.
SCALE_BATCHES = 20


def class_names(tf_transform_output: tft.TFTransformOutput, label: Label) -> List[str]:
    """Class names in class-id order: an integer label's from the config, a string label's
    from Transform's vocabulary."""
    if label.integer:
        return list(label.classes)
    return [v.decode() for v in tf_transform_output.vocabulary_by_name(
        label_vocabulary_name(label.name))]


def _settings(custom_config: Dict[str, Any]) -> Dict[str, Any]:
    return {**DEFAULTS, **(custom_config or {})}


def input_fn(file_pattern: List[str], data_accessor, tf_transform_output: tft.TFTransformOutput,
             label: str, batch_size: int, seed: int) -> tf.data.Dataset:
    """Batches of (transformed features, transformed label), shuffled with a fixed seed.

    The examples are raw: Transform does not materialize its output (writing the transformed
    examples took longer than its analysis), so its graph is applied here, batch by batch,
    by the same layer the serving signature uses.
    """
    raw = data_accessor.tf_dataset_factory(
        file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle_seed=seed),
        tf_transform_output.raw_metadata.schema)
    layer = tf_transform_output.transform_features_layer()

    # No AutoGraph: tf.data would convert the layer's and Keras' Python internals to graph
    # code on every run (about 6 s), and the function has no control flow on tensors.
    @tf.autograph.experimental.do_not_convert
    def transform(features):
        transformed = layer(features)
        return transformed, transformed.pop(transformed_name(label))

    return raw.map(transform)


def build_model(tf_transform_output: tft.TFTransformOutput, settings: Dict[str, Any]
                ) -> tf.keras.Model:
    """Numeric features as they are, string features one-hot, then a small MLP: a softmax
    over the classes, or one linear output for a regression."""
    label, hidden_units = from_custom_config(settings), settings["hidden_units"]
    feature_spec = dict(tf_transform_output.transformed_feature_spec())
    feature_spec.pop(transformed_name(label.name))
    inputs, encoded = {}, []
    for key, spec in sorted(feature_spec.items()):
        inputs[key] = tf.keras.Input(shape=(1,), name=key, dtype=spec.dtype)
        if spec.dtype == tf.int64:
            raw_name = key[: -len(transformed_name(""))]
            depth = tf_transform_output.vocabulary_size_by_name(raw_name) + OOV_BUCKETS
            encoded.append(tf.keras.layers.CategoryEncoding(depth, output_mode="one_hot")(inputs[key]))
        else:
            encoded.append(inputs[key])
    x = tf.keras.layers.concatenate(encoded)
    for units in hidden_units:
        x = tf.keras.layers.Dense(units, activation="relu")(x)
    optimizer = tf.keras.optimizers.Adam(settings["learning_rate"])
    if label.regression:
        model = tf.keras.Model(inputs=inputs, outputs=tf.keras.layers.Dense(1)(x))
        model.compile(optimizer=optimizer, loss=tf.keras.losses.MeanSquaredError())
        return model
    num_classes = len(class_names(tf_transform_output, label))
    outputs = tf.keras.layers.Dense(num_classes, activation="softmax")(x)
    model = tf.keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=optimizer, loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
    return model


def target_scale(train_data: tf.data.Dataset, batches: int = SCALE_BATCHES) -> Tuple[float, float]:
    """(mean, standard deviation) of the regression target over the first ``batches``."""
    labels = tf.concat([tf.reshape(tf.cast(y, tf.float32), [-1])
                        for _, y in train_data.take(batches)], axis=0)
    std = float(tf.math.reduce_std(labels))
    return float(tf.reduce_mean(labels)), std if std > 0 else 1.0


def _signatures(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput,
                settings: Dict[str, Any]) -> Dict[str, Any]:
    label = from_custom_config(settings)
    model.tft_layer = tf_transform_output.transform_features_layer()
    model_inputs = list(model.input_names)
    regression = label.regression
    if not regression:
        classes = tf.constant(class_names(tf_transform_output, label))

    # autograph=False, as in input_fn: converting the transform layer and Keras' call to graph
    # code took most of the export's time, and neither signature branches on tensors.
    spec = tf_transform_output.raw_feature_spec()
    spec.pop(label.name)

    def predict(raw_features):
        transformed = model.tft_layer(raw_features)
        output = model({k: transformed[k] for k in model_inputs})
        if regression:
            return {PREDICTIONS: output * model.target_std + model.target_mean}
        probabilities = output
        class_ids = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities, "class_ids": class_ids,
                "classes": tf.gather(classes, class_ids)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def serve(serialized):
        return predict(tf.io.parse_example(serialized, spec))

    def serve_raw(**columns):
        """One value per row and feature, as parsing a tf.Example with each feature set
        gives it: a dense column in the feature's shape (a schema may give a required feature
        shape [1]), or a one-value-per-row sparse one for a feature the schema lets be
        missing."""
        return predict({name: tf.reshape(columns[name], [-1, *spec[name].shape])
                        if isinstance(spec[name], tf.io.FixedLenFeature)
                        else _one_per_row(columns[name]) for name in spec})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def transform_features(serialized):
        parsed = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(parsed)

    signatures = {"serving_default": serve, "transform_features": transform_features}
    if all(name.isidentifier() for name in spec):  # a signature's inputs are keyword arguments
        raw_inputs = {name: tf.TensorSpec([None], spec[name].dtype, name=name) for name in spec}
        signatures[RAW_SIGNATURE] = tf.function(serve_raw, autograph=False) \
            .get_concrete_function(**raw_inputs)
    else:
        logging.warning("No %s signature: a column name is not a Python identifier (%s)",
                        RAW_SIGNATURE, ", ".join(n for n in spec if not n.isidentifier()))
    return signatures


def _one_per_row(column: tf.Tensor) -> tf.SparseTensor:
    rows = tf.range(tf.shape(column, out_type=tf.int64)[0])
    return tf.SparseTensor(tf.stack([rows, tf.zeros_like(rows)], axis=1), column,
                           tf.stack([tf.size(column, out_type=tf.int64), 1]))


def fit(tf_transform_output: tft.TFTransformOutput, train_data: tf.data.Dataset,
        eval_data: tf.data.Dataset, settings: Dict[str, Any], train_steps: int,
        eval_steps: int) -> tf.keras.Model:
    """Seeds every random source, builds the model and fits it: same data, same weights.

    A plain loop over a graph-compiled step instead of ``model.fit``: Keras converts its own
    training internals with AutoGraph on every fit, about 10 s per Trainer run here, which is
    more than training this model takes. The step needs no AutoGraph (no Python control flow
    on tensors), so it is traced as written. Loss and accuracy (a regressor: mean absolute
    error) on ``eval_steps`` eval batches are logged; the Evaluator does the evaluation that
    gates the push.
    """
    tf.keras.utils.set_random_seed(settings["seed"])
    tf.config.experimental.enable_op_determinism()
    model = build_model(tf_transform_output, settings)
    names = list(model.input_names)
    loss_fn, optimizer = model.loss, model.optimizer
    regression = from_custom_config(settings).regression
    if regression:
        model.target_mean, model.target_std = target_scale(train_data)
        metric = tf.keras.metrics.MeanAbsoluteError(name="mean absolute error")
    else:
        metric = tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def target(labels):
        """What the model learns: class ids, or the regression target as a z-score."""
        if not regression:
            return labels
        return (tf.cast(labels, tf.float32) - model.target_mean) / model.target_std

    @tf.function(autograph=False)
    def train_step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(target(labels), model({k: features[k] for k in names}, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function(autograph=False)
    def eval_step(features, labels):
        output = model({k: features[k] for k in names}, training=False)
        metric.update_state(labels, output * model.target_std + model.target_mean
                            if regression else output)
        return loss_fn(target(labels), output)

    loss = tf.constant(float("nan"))
    for features, labels in train_data.take(train_steps):
        loss = train_step(features, labels)
    eval_losses = [float(eval_step(f, y)) for f, y in eval_data.take(eval_steps)]
    logging.info("Trained %d steps: last batch loss %.4f; eval loss %.4f, %s %.4f over "
                 "%d batches", train_steps, float(loss), sum(eval_losses) / max(len(eval_losses), 1),
                 metric.name, float(metric.result()), len(eval_losses))
    return model


def train(fn_args, make_dataset: Callable[..., tf.data.Dataset] = input_fn) -> tf.keras.Model:
    """Trains the model described by ``fn_args`` (TFX's FnArgs) and returns it.

    ``make_dataset`` has ``input_fn``'s signature; the benchmark's stock set passes one that
    reads Transform's materialized examples instead.
    """
    settings = _settings(fn_args.custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_data, eval_data = [
        make_dataset(files, fn_args.data_accessor, tf_transform_output,
                     from_custom_config(settings).name, settings["batch_size"], settings["seed"])
        for files in (fn_args.train_files, fn_args.eval_files)]
    return fit(tf_transform_output, train_data, eval_data, settings, fn_args.train_steps,
               fn_args.eval_steps)


def run_fn(fn_args) -> None:
    """TFX Trainer entry point: train, then export."""
    export(train(fn_args), fn_args)


def export(model: tf.keras.Model, fn_args) -> None:
    """Saves ``model`` to the Trainer's serving directory with its signatures.

    A plain SavedModel of the signatures and the weights, not a Keras one: Keras'
    ``model.save`` traced every layer's functions for its own loader, about as long as the
    training, and TFMA then loaded it through Keras. TFMA and TF Serving only use the
    signatures."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    settings = _settings(fn_args.custom_config)
    signatures = _signatures(model, tf_transform_output, settings)
    served = tf.Module()
    served.weights = list(model.weights)
    label = from_custom_config(settings)
    with tempfile.TemporaryDirectory() as scratch:
        if label.integer:
            # An integer label has no vocabulary: the model carries its class names as the
            # asset a string label's vocabulary would be (the report reads it).
            served.label_classes = _classes_asset(scratch, label)
        _save(served, model, fn_args.serving_model_dir, signatures)


def _classes_asset(folder: str, label: Label) -> tf.saved_model.Asset:
    path = os.path.join(folder, label_vocabulary_name(label.name))
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in label.classes))
    return tf.saved_model.Asset(path)


def _save(served: tf.Module, model: tf.keras.Model, folder: str, signatures: Dict[str, Any]
          ) -> None:
    # What the transform layer tracks (the loaded transform graph: its tables and vocabulary
    # assets), not the Keras layer itself: saving a Keras layer traces a default signature and
    # per-layer call functions with AutoGraph, which took longer than the training.
    served.transform_graph = model.tft_layer._saved_model_loader_tracked_dict
    tf.saved_model.save(served, folder, signatures=signatures)
