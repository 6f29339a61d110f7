"""The flink-local profile before any job: its arguments, the refusal when no cluster answers."""
from __future__ import annotations

import socket

import pytest

from pipeline import config as config_lib
from pipeline import parallel
from pipeline.local import preflight
from pipeline.flink import cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((cluster.HOST, 0))
        return s.getsockname()[1]


def test_flink_local_profile_points_at_the_local_job_server_and_worker_pool():
    args = config_lib.load(None, {"beam.profile": "flink-local"}).beam_args()
    assert f"--job_endpoint={cluster.HOST}:{cluster.JOB_PORT}" in args
    assert "--environment_type=EXTERNAL" in args
    assert f"--environment_config={cluster.HOST}:{cluster.WORKER_POOL_PORT}" in args


def test_flink_local_gets_no_direct_runner_fan_out(tmp_path):
    big = tmp_path / "span-1"
    big.mkdir()
    (big / "data.csv").write_text("a,b\n" + "1,2\n" * 50)
    overrides = {"data.root": str(tmp_path), "data.span_pattern": "span-{SPAN}/*.csv",
                 "beam.parallel_from_rows": 10}
    direct = config_lib.load(None, overrides)
    flink = config_lib.load(None, {**overrides, "beam.profile": "flink-local"})
    assert parallel.local_beam_args(direct, None, cores=2)  # the threshold is met
    assert parallel.local_beam_args(flink, None, cores=2) == []


def test_flink_local_with_no_cluster_answering_fails_in_one_line_naming_make_flink_up(monkeypatch):
    for name in ("REST_PORT", "JOB_PORT", "WORKER_POOL_PORT"):
        monkeypatch.setattr(cluster, name, _free_port())
    cfg = config_lib.load(None, {"beam.profile": "flink-local"})
    with pytest.raises(preflight.PreflightError) as e:
        preflight.check_beam_profile(cfg)
    message = str(e.value)
    assert "\n" not in message and "make flink-up" in message and "job server" in message


def test_other_profiles_need_no_cluster(monkeypatch):
    monkeypatch.setattr(cluster, "REST_PORT", _free_port())
    preflight.check_beam_profile(config_lib.load(None, {}))
