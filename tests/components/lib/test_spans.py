"""Span discovery: the latest by default, a chosen one, and clear errors."""
import pytest

from components.lib.spans import SpanError, available_spans, resolve_span
from tests.conftest import DATA

PATTERN = "span-{SPAN}/*.csv"


def test_bundled_data_has_three_spans_and_latest_is_three():
    assert sorted(available_spans(DATA, PATTERN)) == [1, 2, 3]
    assert resolve_span(DATA, PATTERN) == 3
    assert resolve_span(DATA, PATTERN, 2) == 2


def test_spans_sort_numerically_and_empty_folders_do_not_count(tmp_path):
    for span in (2, 10):
        (tmp_path / f"span-{span}").mkdir()
        (tmp_path / f"span-{span}" / "a.csv").write_text("x\n1\n")
    (tmp_path / "span-11").mkdir()
    assert resolve_span(str(tmp_path), PATTERN) == 10


def test_errors_name_the_folder(tmp_path):
    with pytest.raises(SpanError, match="no span has files"):
        resolve_span(str(tmp_path), PATTERN)
    with pytest.raises(SpanError, match=r"span 7 has no files .*\(spans: 1, 2, 3\)"):
        resolve_span(DATA, PATTERN, 7)
    with pytest.raises(SpanError, match="does not exist"):
        resolve_span(str(tmp_path / "missing"), PATTERN)
    with pytest.raises(SpanError, match="must stay inside the data root"):
        available_spans(DATA, "../span-{SPAN}/*.csv")
