"""When a local run fans its heavy components out over the cores, and what that changes."""
from __future__ import annotations

import pytest

from pipeline import config as config_lib
from pipeline import factory
from pipeline import parallel
from tests.conftest import span_file

MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _cfg(threshold: int, window: int = 1) -> config_lib.Config:
    return config_lib.load(None, {"beam.parallel_from_rows": threshold, "data.window": window})


def _data_rows(span: int) -> int:
    return len(open(span_file(span)).read().splitlines()) - 1


def test_count_rows_leaves_out_headers_and_stops_at_the_limit(tmp_path):
    files = []
    for name, rows in (("a.csv", 3), ("b.csv", 5)):
        (tmp_path / name).write_text("h\n" + "1\n" * rows)
        files.append(str(tmp_path / name))
    assert parallel.count_rows(files, 100) == 8
    # What local_beam_args asks: are there at least ``limit`` rows? Right for every limit,
    # and the full count when there are fewer.
    for limit in range(12):
        counted = parallel.count_rows(files, limit)
        assert (counted >= limit) == (8 >= limit), (limit, counted)
        if limit > 8:
            assert counted == 8
    # It stops reading there: a file after the limit is never opened.
    assert parallel.count_rows([files[0], str(tmp_path / "never-read.csv")], 2) > 2


@pytest.mark.parametrize("threshold, window, cores, fans_out", [
    ("rows", 1, 2, True),       # exactly the threshold
    ("rows+1", 1, 2, False),
    ("rows+1", 2, 2, True),     # the window's earlier span counts too
    ("rows", 1, 1, False),      # one core: nothing to fan out to
    (0, 1, 2, False),           # 0: never
])
def test_local_runs_fan_out_from_the_threshold(threshold, window, cores, fans_out):
    rows = _data_rows(3)
    value = {"rows": rows, "rows+1": rows + 1}.get(threshold, threshold)
    args = parallel.local_beam_args(_cfg(value, window), 3, cores=cores)
    assert args == (MULTI if fans_out else [])


def test_only_the_heavy_components_get_the_workers(monkeypatch):
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    pipeline = factory.create_pipeline(_cfg(1), 3)
    for component in pipeline.components:
        args = component.executor_spec.beam_pipeline_args if hasattr(
            component.executor_spec, "beam_pipeline_args") else []
        assert (args[-2:] == MULTI) == (component.id in parallel.HEAVY_COMPONENTS), component.id
    assert "multi_processing" not in " ".join(pipeline.beam_pipeline_args)


def test_the_bundled_run_stays_in_memory():
    assert factory.local_target(config_lib.load(), None).heavy_beam_args == []


def test_the_rows_counted_are_the_window_the_example_gen_reads(tmp_path):
    """A span without files is skipped, not counted: the window reaches back past it."""
    for span in (1, 3):
        (tmp_path / f"span-{span}").mkdir()
        (tmp_path / f"span-{span}" / "rows.csv").write_text("h\n1\n")
    cfg = config_lib.load(None, {"data.root": str(tmp_path), "data.window": 2})
    assert parallel.window_files(cfg, None) == [str(tmp_path / "span-1" / "rows.csv"),
                                                str(tmp_path / "span-3" / "rows.csv")]
    assert parallel.window_files(cfg, 1) == [str(tmp_path / "span-1" / "rows.csv")]
