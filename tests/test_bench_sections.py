"""bench/RESULTS.md keeps every benchmark's sections when one of them rewrites its own."""
from bench import sections

OLD = "# Benchmark results\n\nintro\n\n## End to end\n\nold e2e\n\n## Model server\n\nserver 1\n"


def test_a_benchmark_replaces_its_section_in_place_and_keeps_the_others():
    merged = sections.merge(OLD, "## Model server\n\nserver 2\n")
    assert merged == "# Benchmark results\n\nintro\n\n## End to end\n\nold e2e\n\n" \
                     "## Model server\n\nserver 2\n"


def test_the_main_benchmark_rewrites_its_title_and_sections_and_keeps_a_new_one():
    merged = sections.merge(OLD, "# Benchmark results\n\nnew intro\n\n## End to end\n\nnew\n\n"
                                 "## Flink\n\nflink\n")
    assert merged.startswith("# Benchmark results\n\nnew intro\n\n## End to end\n\nnew\n")
    assert "## Model server\n\nserver 1\n" in merged and merged.endswith("## Flink\n\nflink\n")
    assert "old e2e" not in merged


def test_a_new_file_gets_the_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    sections.write(str(path), "## Model server\n\nserver\n")
    sections.write(str(path), "## Flink\n\nflink\n")
    assert path.read_text() == "## Model server\n\nserver\n\n## Flink\n\nflink\n"
