"""The one pipeline factory. The local runner and the Kubeflow compiler both call it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from tfx.components import StatisticsGen, Transform
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2

from components.lib import drift
from components.drift_check import DriftCheck
from components.evaluator import BaselineAwareEvaluator
from components.pusher import VersionedPusher
from components.report.component import Report
from components.schema_import import FingerprintedImportSchemaGen
from components.serving_baseline import ServingBaseline
from components.csv_example_gen import WindowedCsvExampleGen
from components.trainer import StepsTrainer
from components.validation_gate import GatedExampleValidator
from pipeline import eval_config
from pipeline import parallel
from components.lib import label as label_lib
from pipeline.config import Config
from pipeline.lineage import code_fingerprint

# The order in which components run; the runner's summary follows it.
COMPONENT_IDS = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                 "DriftCheck", "Transform", "Trainer", "ServingBaseline", "Evaluator", "Pusher",
                 "Report"]
# The nodes that stop a run on bad data (schema anomalies; drift with drift_policy: stop). When
# a run fails, a gate's failure is its cause (pipeline/local/dag_runner.py).
GATES = ("ExampleValidator", "DriftCheck")


@dataclass(frozen=True)
class Target:
    """Where one orchestrator's pipeline reads and writes. Everything else comes from config.

    ``data_root`` and ``train_steps`` may be Kubeflow runtime parameters. ``span`` None means
    the latest span at run time (resolved by the ExampleGen driver locally, by our executor
    on Kubeflow).
    """
    data_root: Union[str, data_types.RuntimeParameter]
    schema_file: str                 # the path ImportSchemaGen's executor reads
    pipeline_root: str
    serving_dir: str
    train_steps: Union[int, data_types.RuntimeParameter]
    beam_args: List[str]
    span: Optional[int] = None
    heavy_beam_args: List[str] = dataclasses.field(default_factory=list)  # see pipeline/parallel.py


def local_target(cfg: Config, span: Optional[int]) -> Target:
    """Everything on this machine, under ``cfg.output_root``."""
    return Target(data_root=cfg.data.root, schema_file=cfg.schema, pipeline_root=cfg.pipeline_root,
                  serving_dir=cfg.serving_dir, train_steps=cfg.trainer.train_steps,
                  beam_args=cfg.beam_args(), span=span,
                  heavy_beam_args=parallel.local_beam_args(cfg, span))


def _example_gen(cfg: Config, target: Target) -> WindowedCsvExampleGen:
    """ExampleGen over the span window: the train/eval hash split; a fixed span if given."""
    return WindowedCsvExampleGen(
        span_pattern=cfg.data.span_pattern, window=cfg.data.window,
        input_base=target.data_root,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=cfg.data.span_pattern)]),
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=cfg.data.train_buckets),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=cfg.data.eval_buckets)])),
        range_config=None if target.span is None else range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=target.span,
                                                      end_span_number=target.span)),
    ).with_id("CsvExampleGen")


def _drift_check(cfg: Config, target: Target, examples, statistics, schema) -> DriftCheck:
    """Drift from the previous span: recorded, or a stop with monitoring.drift_policy: stop."""
    return DriftCheck(
        examples=examples, statistics=statistics, schema=schema,
        data_root=target.data_root, span_pattern=cfg.data.span_pattern,
        thresholds=drift.Thresholds(
            categorical_drift=cfg.monitoring.categorical_drift,
            numeric_drift=cfg.monitoring.numeric_drift,
            categorical_skew=cfg.monitoring.categorical_skew,
            numeric_skew=cfg.monitoring.numeric_skew),
        skip_features=cfg.data.exclude_features, policy=cfg.monitoring.drift_policy,
    ).with_id("DriftCheck")


def _transform_and_trainer(cfg: Config, target: Target, label: label_lib.Label, examples,
                           schema) -> Tuple[Transform, StepsTrainer]:
    """Transform (analysis only) and the Trainer, both given the typed label."""
    # Transform only analyzes: the Trainer applies its graph to the raw examples (writing the
    # transformed examples cost more than the analysis). No pre/post statistics either (two
    # more TFDV passes nobody reads) and no analyzer cache (nothing feeds it back). The TF1
    # graph: tracing preprocessing_fn as tf.functions costs 3-4 s more on every run, and the
    # Trainer's transform layer and the serving signatures load either kind.
    transform = Transform(
        examples=examples, schema=schema, preprocessing_fn=cfg.transform.preprocessing_fn,
        materialize=False, disable_statistics=True, disable_analyzer_cache=True,
        force_tf_compat_v1=True,
        custom_config={"label": cfg.data.label, "exclude_features": cfg.data.exclude_features,
                       **label.custom_config(),
                       "code_fingerprint": code_fingerprint(cfg.transform.preprocessing_fn)})

    trainer = StepsTrainer(
        run_fn=cfg.trainer.run_fn,
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_steps=target.train_steps,
        eval_args=trainer_pb2.EvalArgs(num_steps=cfg.trainer.eval_steps),
        custom_config={"label": cfg.data.label, "batch_size": cfg.trainer.batch_size,
                       "hidden_units": cfg.trainer.hidden_units,
                       "learning_rate": cfg.trainer.learning_rate, "seed": cfg.trainer.seed,
                       **label.custom_config(),
                       "code_fingerprint": code_fingerprint(cfg.trainer.run_fn)}).with_id("Trainer")
    return transform, trainer


def create_pipeline(cfg: Config, span: Optional[int] = None, *, target: Optional[Target] = None,
                    serving_state: str = "", metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None) -> tfx_pipeline.Pipeline:
    """Builds the pipeline; by default for a local run on ``span``.

    ``target`` says where data and outputs live (see ``local_target``; the Kubeflow compiler
    passes its own). ``serving_state`` is what the caller saw in the push destination; it keys
    the ServingBaseline cache so a new push is never answered from a stale cache.
    """
    target = target or local_target(cfg, span)
    label = label_lib.of_config(cfg)
    if beam_args is not None:
        target = dataclasses.replace(target, beam_args=beam_args)
    example_gen = _example_gen(cfg, target)
    examples = example_gen.outputs["examples"]

    statistics_gen = StatisticsGen(examples=examples)
    schema_gen = FingerprintedImportSchemaGen(
        schema_file=target.schema_file, fingerprint_of=cfg.schema).with_id("ImportSchemaGen")
    schema = schema_gen.outputs["schema"]
    validator = GatedExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema).with_id("ExampleValidator")
    drift_check = _drift_check(cfg, target, examples, statistics_gen.outputs["statistics"],
                               schema)

    transform, trainer = _transform_and_trainer(cfg, target, label, examples, schema)
    # The gate: no anomaly-free data (and, with drift_policy stop, no drift), no model. It
    # sits before the Trainer, not Transform: Transform's analysis then runs while
    # StatisticsGen computes the statistics the gate reads (ForkingDagRunner, and parallel
    # pods on Kubeflow), and nothing that Transform writes is used unless the gate passes.
    trainer.add_upstream_node(validator)
    trainer.add_upstream_node(drift_check)

    baseline = ServingBaseline(candidate=trainer.outputs["model"], serving_dir=target.serving_dir,
                               serving_state=serving_state)
    evaluator = BaselineAwareEvaluator(
        examples=examples, model=trainer.outputs["model"],
        baseline_model=baseline.outputs["baseline_model"],
        eval_config=eval_config.build(cfg, label), example_splits=["eval"]).with_id("Evaluator")
    pusher = VersionedPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=target.serving_dir)),
    ).with_id("Pusher")

    # The reviewer's report; only stable, build-time values as parameters, so a rerun with
    # nothing changed stays fully cached (it reads code version, user and host itself).
    report = Report(
        title=f"{cfg.pipeline_name}: model review", label=cfg.data.label,
        config_digest=cfg.digest(), examples=examples,
        statistics=statistics_gen.outputs["statistics"], anomalies=validator.outputs["anomalies"],
        schema=schema, drift=drift_check.outputs["drift"], model=trainer.outputs["model"],
        baseline_model=baseline.outputs["baseline_model"],
        evaluation=evaluator.outputs["evaluation"], blessing=evaluator.outputs["blessing"],
        pushed_model=pusher.outputs["pushed_model"]).with_id("Report")

    components = [example_gen, statistics_gen, schema_gen, validator, drift_check, transform,
                  trainer, baseline, evaluator, pusher, report]
    assert [c.id for c in components] == COMPONENT_IDS
    if target.heavy_beam_args:  # TFX puts a component's own Beam arguments after the pipeline's
        for component in components:
            if component.id in parallel.HEAVY_COMPONENTS:
                component.with_beam_pipeline_args(target.heavy_beam_args)
    return tfx_pipeline.Pipeline(
        pipeline_name=cfg.pipeline_name, pipeline_root=target.pipeline_root,
        components=components, enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=target.beam_args)
