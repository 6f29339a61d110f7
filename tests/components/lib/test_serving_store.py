"""Only complete pushes count as versions: a killed push never serves or becomes the baseline."""
from components.lib.serving_store import serving_version, version_dirs


def test_staging_and_incomplete_folders_are_not_versions(tmp_path):
    for name, complete in (("1", True), ("2", True), (".staging-3-4242", True), ("4", False),
                           ("notes", True)):
        (tmp_path / name).mkdir()
        if complete:
            (tmp_path / name / "saved_model.pb").write_bytes(b"model")
    assert sorted(version_dirs(str(tmp_path))) == [1, 2]
    assert serving_version(str(tmp_path)) == 2


def test_no_serving_folder_means_no_version(tmp_path):
    assert version_dirs(str(tmp_path / "serving")) == {}
    assert serving_version(str(tmp_path / "serving")) is None
