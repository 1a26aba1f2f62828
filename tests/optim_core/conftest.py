import pytest


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path, monkeypatch):
    """User dataset files live in the datasets directory: here, the test's tmp_path."""
    monkeypatch.setenv("OPTRACK_DATASETS_DIR", str(tmp_path))
    return tmp_path
