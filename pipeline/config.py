"""The pipeline config: one YAML file, defaults in dataclasses, validated once.

Every setting lives here and nowhere else. Paths in the file are relative to the file's
folder; paths given on the command line are relative to the working directory.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import yaml

from components.lib import spans
from components.lib.label import CLASSIFICATION, REGRESSION, TASKS

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, "config.yaml")

# Kubeflow names pipelines and runs as DNS-1123 labels: lowercase, digits and dashes.
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """A setting is wrong; the message names the file and the setting."""


@dataclass(frozen=True)
class DataConfig:
    root: str = "data/penguins"           # a folder of spans
    span_pattern: str = "span-{SPAN}/*.csv"
    span: Optional[int] = None            # None: the latest span found under root
    window: int = 1                       # train on the last `window` spans up to `span`
    label: str = "species"
    task: str = CLASSIFICATION            # or regression: a numeric label, predicted as a number
    exclude_features: List[str] = field(default_factory=lambda: ["year"])
    train_buckets: int = 2                # hash split: train gets 2 of 3 buckets
    eval_buckets: int = 1


@dataclass(frozen=True)
class TransformConfig:
    preprocessing_fn: str = "components.user.preprocessing.preprocessing_fn"


@dataclass(frozen=True)
class TrainerConfig:
    run_fn: str = "components.user.model.run_fn"
    train_steps: int = 300
    eval_steps: int = 10
    batch_size: int = 32
    hidden_units: List[int] = field(default_factory=lambda: [16, 8])
    learning_rate: float = 0.01
    seed: int = 42


@dataclass(frozen=True)
class EvaluatorConfig:
    slices: List[str] = field(default_factory=lambda: ["island", "sex"])
    min_accuracy: float = 0.8             # value threshold: the candidate must reach it
    max_accuracy_drop: float = 0.02       # change threshold: at most this much worse than serving
    decision_threshold: float = 0.5       # binary: positive-class probability counted as positive
    # Regression: the error metric that gates the push, its bound, and how much (relative)
    # worse than the serving model it may get.
    regression_metric: str = "mean_absolute_error"
    max_error: Optional[float] = None     # required with data.task: regression
    max_error_increase: float = 0.05


@dataclass(frozen=True)
class MonitoringConfig:
    drift_policy: str = "record"          # record: drift is reported; stop: drift fails the run
    # Largest allowed distance: L-infinity for categorical features, Jensen-Shannon for numeric.
    categorical_drift: float = 0.25       # between consecutive spans
    numeric_drift: float = 0.25
    categorical_skew: float = 0.25        # between training data and serving data
    numeric_skew: float = 0.25


@dataclass(frozen=True)
class ServingConfig:
    """The model server (``python -m pipeline serve``) and its prediction log."""
    host: str = "127.0.0.1"
    port: int = 8501                      # TF Serving's REST port
    poll_seconds: float = 1.0             # how often the push destination is checked
    max_body_bytes: int = 10_000_000      # a larger request body gets 413
    log_max_bytes: int = 10_000_000       # prediction log: rotate events.jsonl at this size,
    log_max_files: int = 5                # keeping at most this many files (current included)
    log_queue: int = 10_000               # events waiting to be written; beyond, dropped (counted)


# Without a dependency flag, TFX copies its own install and builds an sdist of it before
# every Beam component (2.3 s each here), for remote workers the DirectRunner never starts.
# The DirectRunner ignores the image; naming it skips that build.
LOCAL_SDK_IMAGE_FLAG = "--sdk_container_image=apache/beam_python3.10_sdk:2.59.0"


def _default_beam_profiles() -> Dict[str, List[str]]:
    return {
        "local": ["--direct_running_mode=in_memory", "--direct_num_workers=1",
                  LOCAL_SDK_IMAGE_FLAG],
        "dataflow": ["--runner=DataflowRunner", "--project=YOUR_PROJECT", "--region=us-central1",
                     "--temp_location=gs://YOUR_BUCKET/tmp"],
        # The cluster `make flink-up` starts on this machine (pipeline/flink/cluster.py).
        "flink-local": ["--runner=PortableRunner", "--job_endpoint=127.0.0.1:8099",
                        "--environment_type=EXTERNAL", "--environment_config=127.0.0.1:50000",
                        "--environment_cache_millis=60000", LOCAL_SDK_IMAGE_FLAG],
        "flink": ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081",
                  "--environment_type=EXTERNAL", "--environment_config=localhost:50000"],
        "spark": ["--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077",
                  "--environment_type=EXTERNAL", "--environment_config=localhost:50000"],
    }


@dataclass(frozen=True)
class BeamConfig:
    profile: str = "local"                # which of `profiles` the components' Beam jobs use
    profiles: Dict[str, List[str]] = field(default_factory=_default_beam_profiles)
    parallel_from_rows: int = 500_000     # local runs: rows from which the Evaluator fans out


@dataclass(frozen=True)
class ResourceConfig:
    cpu: str = ""                         # Kubernetes quantities, e.g. "2", "500m"
    memory: str = ""                      # e.g. "4G", "512M"


def _default_resources() -> Dict[str, ResourceConfig]:
    return {"Transform": ResourceConfig(cpu="2", memory="4G"),
            "Trainer": ResourceConfig(cpu="2", memory="4G"),
            "Evaluator": ResourceConfig(cpu="2", memory="4G")}


@dataclass(frozen=True)
class DataStoreConfig:
    """Where the data tasks read an ``s3://`` data root from (see kubeflow/compile.py)."""
    endpoint: str = "http://minio-service.kubeflow:9000"  # S3 API; "" = AWS S3 itself
    secret: str = "mlpipeline-minio-artifact"             # Secret with accesskey/secretkey


@dataclass(frozen=True)
class KubeflowConfig:
    image: str = "ghcr.io/your-org/tfx-kfp-pipeline:0.1.0"   # built by `make image`
    images: Dict[str, str] = field(default_factory=dict)     # component id -> image override
    resources: Dict[str, ResourceConfig] = field(default_factory=_default_resources)
    pipeline_root: str = "minio://mlpipeline/penguins"      # where KFP writes artifacts
    data_root: str = "/pipeline/data/penguins"               # default of the data_root parameter
    data_store: DataStoreConfig = field(default_factory=DataStoreConfig)  # s3:// data roots
    state_volume: str = "tfx-pipeline-state"                 # PVC mounted in every task ...
    state_dir: str = "/pipeline/state"                        # ... here: kept between runs
    serving_dir: str = "/pipeline/state/serving"              # push destination seen by the pods
    project_dir: str = "/pipeline"                            # where the image holds this project
    beam_profile: str = "local"                               # Beam profile for the cluster
    output: str = "kubeflow/pipeline.yaml"                    # compiled spec
    # Where KServe's payload logger posts each request and response (the server's receiver).
    logger_url: str = "http://prediction-log.kubeflow:8501/v1/events"


@dataclass(frozen=True)
class Config:
    pipeline_name: str = "penguins"
    output_root: str = "out"
    schema: str = "schema/schema.pbtxt"
    data: DataConfig = field(default_factory=DataConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)

    # Derived locations under output_root: pipeline root, ML Metadata, push destination.
    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_root, "pipeline")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_root, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.output_root, "serving")

    @property
    def prediction_log_dir(self) -> str:
        return os.path.join(self.serving_dir, "log")

    @property
    def ground_truth_path(self) -> str:
        return os.path.join(self.serving_dir, "ground_truth.jsonl")

    def beam_args(self, profile: Optional[str] = None) -> List[str]:
        """The Beam arguments of ``profile`` (default: ``beam.profile``)."""
        name = profile or self.beam.profile
        if name not in self.beam.profiles:
            raise ConfigError(f"beam profile {name!r} is not defined (profiles: "
                              f"{', '.join(self.beam.profiles)})")
        return list(self.beam.profiles[name])

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self, root: str = PROJECT_ROOT) -> str:
        """A short hash of every setting, for lineage.

        Paths inside ``root`` (the checkout) are hashed relative to it, so the same settings
        hash the same in any clone: the compiled spec carries this hash and is diffed in CI.
        """
        settings = _map_paths(self, lambda p: os.path.relpath(p, root)
                              if os.path.isabs(p) and _inside(p, root) else p).to_dict()
        blob = json.dumps(settings, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# The settings that are file system paths: resolved against the config file by ``load``,
# hashed relative to the checkout by ``Config.digest``.
_PATH_SETTINGS = (("output_root",), ("schema",), ("data", "root"))


def _map_paths(cfg: Config, fn: Callable[[str], str]) -> Config:
    """``cfg`` with ``fn`` applied to every path setting."""
    def replace(node: Any, path: tuple) -> Any:
        head, *rest = path
        value = replace(getattr(node, head), tuple(rest)) if rest else fn(getattr(node, head))
        return dataclasses.replace(node, **{head: value})

    for path in _PATH_SETTINGS:
        cfg = replace(cfg, path)
    return cfg


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)


_CHOICES = {("monitoring", "drift_policy"): ("record", "stop"), ("data", "task"): TASKS,
            ("evaluator", "regression_metric"): ("mean_absolute_error", "mean_squared_error")}
_POSITIVE = {("data", "train_buckets"), ("data", "eval_buckets"), ("trainer", "train_steps"),
             ("trainer", "eval_steps"), ("trainer", "batch_size"), ("trainer", "learning_rate"),
             ("data", "window"),
             ("monitoring", "categorical_drift"), ("monitoring", "numeric_drift"),
             ("monitoring", "categorical_skew"), ("monitoring", "numeric_skew"),
             ("serving", "poll_seconds"), ("serving", "max_body_bytes"),
             ("serving", "log_max_bytes"), ("serving", "log_max_files"), ("serving", "log_queue")}
_FRACTION = {("evaluator", "min_accuracy"), ("evaluator", "max_accuracy_drop"),
             ("evaluator", "decision_threshold"), ("evaluator", "max_error_increase")}


def _check_type(source: str, path: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the type ``hint``; ``path`` is the dotted setting name."""
    where = f"{source}: {path}"
    origin = typing.get_origin(hint)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        hint = [a for a in typing.get_args(hint) if a is not type(None)][0]
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value or {}, source, f"{path}.")
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: must be a mapping, got {value!r}")
        _, item = typing.get_args(hint)
        return {str(k): _check_type(source, f"{path}.{k}", v, item) for k, v in value.items()}
    if origin in (list, List):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: must be a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_check_type(source, f"{path}[{i}]", v, item) for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # YAML reads `cpu: 2` as a number; a quantity is text
    if hint in (int, float, str) and (not isinstance(value, hint) or isinstance(value, bool)):
        raise ConfigError(f"{where}: must be {hint.__name__}, got {value!r}")
    return value


def _build(cls: type, raw: Dict[str, Any], source: str, prefix: str = "") -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown setting '{prefix}{unknown[0]}' "
                          f"(known: {', '.join(prefix + n for n in names)})")
    return cls(**{name: _check_type(source, f"{prefix}{name}", value, hints[name])
                  for name, value in raw.items()})


def _get(cfg: Config, path: tuple) -> Any:
    value: Any = cfg
    for part in path:
        value = getattr(value, part)
    return value


def _validate(cfg: Config, source: str) -> None:
    for path in _POSITIVE:
        if _get(cfg, path) <= 0:
            raise ConfigError(f"{source}: {'.'.join(path)}: must be positive, got {_get(cfg, path)!r}")
    for path in _FRACTION:
        if not 0 <= _get(cfg, path) <= 1:
            raise ConfigError(f"{source}: {'.'.join(path)}: must be between 0 and 1, got {_get(cfg, path)!r}")
    for path, allowed in _CHOICES.items():
        if _get(cfg, path) not in allowed:
            raise ConfigError(f"{source}: {'.'.join(path)}: must be one of {', '.join(allowed)}, "
                              f"got {_get(cfg, path)!r}")
    if cfg.data.task == REGRESSION and (cfg.evaluator.max_error is None
                                          or cfg.evaluator.max_error <= 0):
        raise ConfigError(f"{source}: evaluator.max_error: must be a positive bound on "
                          f"{cfg.evaluator.regression_metric} with data.task: regression, "
                          f"got {cfg.evaluator.max_error!r}")
    if cfg.beam.parallel_from_rows < 0:
        raise ConfigError(f"{source}: beam.parallel_from_rows: must be >= 0 (0: never), "
                          f"got {cfg.beam.parallel_from_rows}")
    if not 0 < cfg.serving.port < 65536:
        raise ConfigError(f"{source}: serving.port: must be a TCP port (1-65535), got {cfg.serving.port}")
    if cfg.data.span is not None and cfg.data.span < 0:
        raise ConfigError(f"{source}: data.span: must be a span number >= 0, got {cfg.data.span}")
    if "{SPAN}" not in cfg.data.span_pattern:
        raise ConfigError(f"{source}: data.span_pattern: must contain {{SPAN}}, got {cfg.data.span_pattern!r}")
    try:  # every command loads the config, so no path can read outside the data root
        spans.check_pattern(cfg.data.span_pattern)
    except spans.SpanError as e:
        raise ConfigError(f"{source}: data.span_pattern: {e}") from None
    if not NAME_PATTERN.match(cfg.pipeline_name):
        raise ConfigError(f"{source}: pipeline_name: {cfg.pipeline_name!r} is not a valid Kubeflow name "
                          "(lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)")
    for name, path in (("beam.profile", cfg.beam.profile), ("kubeflow.beam_profile", cfg.kubeflow.beam_profile)):
        if path not in cfg.beam.profiles:
            raise ConfigError(f"{source}: {name}: {path!r} is not one of beam.profiles "
                              f"({', '.join(cfg.beam.profiles)})")
    if any(p.count(".") < 1 for p in (cfg.transform.preprocessing_fn, cfg.trainer.run_fn)):
        raise ConfigError(f"{source}: transform.preprocessing_fn and trainer.run_fn must be dotted paths "
                          "like 'components.user.model.run_fn'")


def _set_path(raw: Dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
    node[leaf] = value


def load(path: Optional[str] = None, overrides: Optional[Dict[str, Any]] = None) -> Config:
    """Reads ``path`` (default: the project's config.yaml), applies ``overrides`` and validates.

    ``overrides`` maps dotted setting names to values already relative to the working
    directory (command-line flags); they win over the file.
    """
    path = os.path.abspath(path or DEFAULT_CONFIG)
    source = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping of settings, got {type(raw).__name__}")
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(raw, dotted, value)
    cfg = _build(Config, raw, source)
    # Relative paths are relative to the config file; command-line paths arrive absolute.
    base = os.path.dirname(path)
    cfg = _map_paths(cfg, lambda p: os.path.abspath(os.path.join(base, p)))
    _validate(cfg, source)
    return cfg
