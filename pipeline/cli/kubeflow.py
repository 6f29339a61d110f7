"""The Kubeflow commands: ``compile``, ``replay`` and ``submit``."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Dict, Optional, Tuple

import click

from pipeline import config as config_lib
from pipeline.cli import config_option, load_config


def _params(pairs: Tuple[str, ...]) -> Dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.ClickException(f"--param {pair!r}: expected name=value")
        values[name] = value
    return values


@click.command("compile")
@config_option
@click.option("--output", type=click.Path(dir_okay=False),
              help="Where to write the spec (default: kubeflow.output).")
@click.option("--image", help="Default image for every component (default: kubeflow.image).")
@click.option("--pipeline-root", help="gs://, s3:// or minio:// root (default: kubeflow.pipeline_root).")
@click.option("--beam-profile", help="Beam profile for the components (default: kubeflow.beam_profile).")
@click.option("--span", type=int, help="Train on this span (default: the latest span at run time).")
def compile_command(config_path: Optional[str], output: Optional[str], image: Optional[str],
                    pipeline_root: Optional[str], beam_profile: Optional[str],
                    span: Optional[int]) -> None:
    """Compile the pipeline to a KFP v2 PipelineSpec (YAML) for open-source Kubeflow."""
    cfg = load_config(config_path)
    from kubeflow import compile as compiler
    from kubeflow import inference_service

    start = time.monotonic()
    try:
        spec = compiler.build_spec(cfg, image=image, pipeline_root=pipeline_root, span=span,
                                   beam_profile=beam_profile)
        manifest = inference_service.build(cfg)
    except (compiler.CompileError, inference_service.ManifestError) as e:
        raise click.ClickException(str(e)) from None
    path = output or os.path.join(compiler.PROJECT_ROOT, cfg.kubeflow.output)
    compiler.write(spec, path, compiler.platform_spec(cfg, spec))
    inference_service.write(manifest, inference_service.path_beside(path))
    params = ", ".join(sorted(spec.root.input_definitions.parameters))
    click.echo(f"Wrote {path}: {len(spec.root.dag.tasks)} tasks, parameters: {params} "
               f"({time.monotonic() - start:.1f}s)")
    click.echo(f"Wrote {inference_service.path_beside(path)}: KServe InferenceService "
               f"{cfg.pipeline_name} serving {manifest['spec']['predictor']['model']['storageUri']}")


@click.command("replay")
@config_option
@click.argument("spec_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--root", type=click.Path(file_okay=False),
              help="Where the stand-in keeps its MinIO data, volumes and cache between "
                   "replays (default: <output_root>/replay).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Runtime parameter, e.g. data_root=data/penguins (repeatable).")
@click.option("--kfp-version", default=None, metavar="VERSION",
              help="Play this KFP version's driver and launcher: 2.2, 2.5, 2.15 or 2.17 "
                   "(default: the newest).")
@click.option("--pipeline-root", default=None, metavar="URI",
              help="The run's pipeline root, as submit sends it (default: the spec's; 'none' "
                   "sends none, so the backend's default applies).")
@click.option("--real", is_flag=True,
              help="Run KFP's own driver and launcher (2.5 or 2.17; `make kfp-backend` builds "
                   "them) instead of the emulation: see kubeflow/replay/real/.")
def replay_command(config_path: Optional[str], spec_path: str, root: Optional[str],
                   params: Tuple[str, ...], kfp_version: Optional[str],
                   pipeline_root: Optional[str], real: bool) -> None:
    """Run a compiled spec on this machine as open-source KFP's driver and launcher would
    (a local stand-in with a real MinIO: see kubeflow/replay/).

    The object store is the MinIO server named by AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, or else one the replay starts with its data under --root."""
    cfg = load_config(config_path)
    from kubeflow import compile as compiler
    from kubeflow import replay as replayer

    root = os.path.abspath(root or os.path.join(cfg.output_root, "replay"))
    values: Dict[str, Any] = _params(params)
    if "data_root" in values and "://" not in values["data_root"]:
        values["data_root"] = os.path.abspath(values["data_root"])
    try:
        spec = compiler.load(spec_path)
        version = replayer.backend(kfp_version or replayer.NEWEST).version
        run_root = spec.default_pipeline_root if pipeline_root is None else (
            None if pipeline_root.lower() == "none" else pipeline_root)
        with _object_store(root) as store:
            click.echo(f"Replaying {spec_path} under {root} (a stand-in for open-source KFP "
                       f"{version}; object store: MinIO at {store.credentials.endpoint})")
            if real:  # KFP's own driver and launcher: kubeflow/replay/real/
                from kubeflow.replay.real import replay as run_replay
            result = (run_replay if real else replayer.replay)(
                spec, root, store=store, parameters=values, kfp_version=version,
                pipeline_root=run_root, platform=compiler.load_platform(spec_path),
                mounts=replayer.image_mounts(cfg.kubeflow.project_dir),
                project_dir=cfg.kubeflow.project_dir, echo=click.echo,
                secrets=_secrets(store.credentials))
    except (compiler.CompileError, replayer.ReplayError, replayer.ObjectStoreError,
            ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo("")
    for line in replay_summary(result):
        click.echo(line)
    if result.failed or len(result.tasks) < len(result.order):
        sys.exit(1)


@contextlib.contextmanager
def _object_store(root: str):
    """The MinIO the environment names, or one started for this replay under ``root``."""
    from kubeflow import replay as replayer

    credentials = replayer.Credentials.from_env()
    if credentials is not None:
        yield replayer.ObjectStore(credentials)
        return
    with replayer.MinioServer(os.path.join(root, "minio")) as server:
        yield replayer.ObjectStore(server.credentials)


def _secrets(credentials) -> Dict[str, Dict[str, str]]:
    """The Secret a Kubeflow install keeps MinIO's keys in, as the replay's stand-in."""
    return {"mlpipeline-minio-artifact": {"accesskey": credentials.access_key,
                                          "secretkey": credentials.secret_key}}


def replay_summary(result) -> list:
    lines = [f"Replay {result.run_id}: " + ("FAILED at " + result.failed.name if result.failed
                                            else "all tasks succeeded")]
    for name in result.order:
        task = result.tasks.get(name)
        status = ("not run" if task is None else "cached" if task.cached
                  else "ok" if task.ok else f"exit {task.returncode}")
        seconds = f"{task.seconds:6.1f}s" if task else "      -"
        lines.append(f"  {name:<18}{status:<10}{seconds}")
    if "Pusher" in result.tasks and result.tasks["Pusher"].ok:
        metadata = result.artifact("Pusher", "pushed_model").get("metadata", {})
        if metadata.get("pushed"):
            lines.append(f"  Model: blessed, pushed as version {metadata.get('pushed_version')} "
                         f"to {metadata.get('pushed_destination')}")
        else:
            lines.append("  Model: not pushed")
    return lines


@click.command("submit")
@config_option
@click.argument("spec_path", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--host", required=True, help="Kubeflow Pipelines API, e.g. https://kubeflow.example.com/pipeline.")
@click.option("--namespace", default="kubeflow", show_default=True, help="Kubernetes namespace (profile).")
@click.option("--experiment", default=None, help="Experiment name (default: the pipeline name).")
@click.option("--run-name", default=None, help="Run name (default: <pipeline>-<time>).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Runtime parameter, e.g. train_steps=500 (repeatable).")
@click.option("--pipeline-root", default=None, metavar="URI",
              help="Where the run's artifacts go (default: the spec's, i.e. kubeflow.pipeline_root).")
@click.option("--recurring", "cron", metavar="CRON",
              help="Create a recurring run on this cron schedule (6 fields, e.g. '0 0 3 * * *').")
def submit_command(config_path: Optional[str], spec_path: Optional[str], host: str,
                   namespace: str, experiment: Optional[str], run_name: Optional[str],
                   params: Tuple[str, ...], pipeline_root: Optional[str],
                   cron: Optional[str]) -> None:
    """Upload a compiled spec and start a run (or a recurring run) on Kubeflow Pipelines.

    Credentials come from KFP_BEARER_TOKEN or KFP_COOKIE in the environment."""
    cfg = load_config(config_path)
    from kubeflow import compile as compiler
    from kubeflow import submit as submitter

    path = spec_path or os.path.join(compiler.PROJECT_ROOT, cfg.kubeflow.output)
    if not os.path.exists(path):
        raise click.ClickException(f"{path}: no compiled spec; run `python -m pipeline compile` first")
    name = run_name or f"{cfg.pipeline_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not config_lib.NAME_PATTERN.match(name):
        raise click.ClickException(f"--run-name: {name!r} is not a valid Kubeflow name "
                                   "(lowercase letters, digits and '-', at most 63)")
    if cron is not None:
        if len(cron.split()) not in (5, 6):
            raise click.ClickException(f"--recurring: {cron!r} is not a cron expression (5 or 6 fields)")
        # KFP's scheduler reads six fields, seconds first; a classic five-field line gets "0".
        cron = cron if len(cron.split()) == 6 else "0 " + cron
    try:
        spec = compiler.load(path)
        from kubeflow import replay as replayer

        values = replayer.pipeline_parameters(spec, _params(params))
        submitted = submitter.submit(path, host=host, namespace=namespace,
                                     experiment=experiment or cfg.pipeline_name, run_name=name,
                                     parameters=values, cron=cron,
                                     pipeline_root=pipeline_root or spec.default_pipeline_root)
    except (compiler.CompileError, replayer.ReplayError, submitter.SubmitError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Created {submitted.kind} {submitted.id}")
    click.echo(f"  {submitted.url}")


def register(group: click.Group) -> None:
    group.add_command(compile_command)
    group.add_command(replay_command)
    group.add_command(submit_command)
