"""Trainer user code for the benchmark's stock set: it reads Transform's materialized examples.

That is how the TFX templates train. The model, its training and its export are ours
(``components.user.model``); only the input differs, so the comparison times the pipeline shape.
"""
from __future__ import annotations

from typing import List

from components.user import model as ours
from components.user.preprocessing import transformed_name
from tfx_bsl.public import tfxio


def materialized_input_fn(file_pattern: List[str], data_accessor, tf_transform_output, label: str,
                          batch_size: int, seed: int):
    """Batches of (transformed features, transformed label) from Transform's output examples."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=transformed_name(label),
                                       shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema)


def run_fn(fn_args) -> None:
    ours.export(ours.train(fn_args, make_dataset=materialized_input_fn), fn_args)
