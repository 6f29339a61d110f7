"""The stock TFX component set on a data root, for side-by-side timing with our pipeline.

Stock CsvExampleGen, StatisticsGen, SchemaGen, ExampleValidator, Transform, Trainer,
Evaluator and Pusher, on the DirectRunner in memory with one worker, as our local profile, but without the flag
that spares TFX its per-component sdist build. Configured as the TFX templates do it:
Transform materializes its examples (with its statistics and analyzer cache), the Trainer
reads them (``bench.stock_model.run_fn``: our model and training, the stock input), and
the Evaluator computes TFMA's stock metrics (Keras accuracy, binarized per-class precision
and recall, the model's compiled metrics). ``preprocessing_fn`` and the settings are ours.
``--only-examplegen`` runs stock CsvExampleGen alone.

Stock CsvExampleGen reads a literal ``NA`` as text (a numeric column becomes a string
column), so feed it data written with empty fields for missing values (generate.py
``--empty-missing``).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pipeline  # noqa: E402,F401  (through components: the Keras switch before TF loads)
import tensorflow_model_analysis as tfma  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.orchestration import metadata  # noqa: E402
from tfx.orchestration import pipeline as tfx_pipeline  # noqa: E402
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner  # noqa: E402

from pipeline import config as config_module  # noqa: E402
from pipeline.config import LOCAL_SDK_IMAGE_FLAG, Config  # noqa: E402
from components.lib import label as label_lib  # noqa: E402
from pipeline.eval_config import model_and_slicing_specs  # noqa: E402


def stock_eval_config(cfg: Config) -> tfma.EvalConfig:
    """The template-style TFMA config: stock metrics, value threshold only (no baseline)."""
    num_classes = len(label_lib.of_config(cfg).classes)
    return tfma.EvalConfig(
        **model_and_slicing_specs(cfg),
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(
                        lower_bound={"value": cfg.evaluator.min_accuracy}))),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]),
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name="Precision"),
                         tfma.MetricConfig(class_name="Recall")],
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))})),
        ])


def create(data_root: str, output_root: str, only_examplegen: bool) -> tfx_pipeline.Pipeline:
    cfg = config_module.load(None, {})
    example_gen = tfx.components.CsvExampleGen(
        input_base=data_root,
        input_config=tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name="single_split", pattern=cfg.data.span_pattern)]),
        output_config=tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name="train", hash_buckets=cfg.data.train_buckets),
            tfx.proto.SplitConfig.Split(name="eval", hash_buckets=cfg.data.eval_buckets)])))
    components = [example_gen]
    if not only_examplegen:
        examples = example_gen.outputs["examples"]
        statistics = tfx.components.StatisticsGen(examples=examples)
        schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
        validator = tfx.components.ExampleValidator(
            statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"])
        transform = tfx.components.Transform(
            examples=examples, schema=schema.outputs["schema"],
            preprocessing_fn=cfg.transform.preprocessing_fn,
            custom_config={"label": cfg.data.label,
                           "exclude_features": list(cfg.data.exclude_features)})
        trainer = tfx.components.Trainer(
            run_fn="bench.stock_model.run_fn", examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"], schema=schema.outputs["schema"],
            train_args=tfx.proto.TrainArgs(num_steps=cfg.trainer.train_steps),
            eval_args=tfx.proto.EvalArgs(num_steps=cfg.trainer.eval_steps),
            custom_config={"label": cfg.data.label, "batch_size": cfg.trainer.batch_size,
                           "hidden_units": list(cfg.trainer.hidden_units),
                           "learning_rate": cfg.trainer.learning_rate, "seed": cfg.trainer.seed})
        evaluator = tfx.components.Evaluator(
            examples=examples, model=trainer.outputs["model"],
            eval_config=stock_eval_config(cfg), example_splits=["eval"])
        pusher = tfx.components.Pusher(
            model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(
                    base_directory=os.path.join(output_root, "serving"))))
        components += [statistics, schema, validator, transform, trainer, evaluator, pusher]
    return tfx_pipeline.Pipeline(
        pipeline_name="stock-penguins", pipeline_root=os.path.join(output_root, "pipeline"),
        components=components, enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            os.path.join(output_root, "metadata.sqlite")),
        beam_pipeline_args=[a for a in cfg.beam_args() if a != LOCAL_SDK_IMAGE_FLAG])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root")
    parser.add_argument("output_root")
    parser.add_argument("--only-examplegen", action="store_true")
    args = parser.parse_args()
    BeamDagRunner().run(create(args.data_root, args.output_root, args.only_examplegen))


if __name__ == "__main__":
    main()
