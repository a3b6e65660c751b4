import pytest


@pytest.fixture(scope="session")
def _shared_data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_input_data")


@pytest.fixture
def shared_data(_shared_data_root, monkeypatch):
    """One data root for the whole suite (shapes is generated once), outside every watched folder."""
    monkeypatch.setenv("ROBEVAL_DATA", str(_shared_data_root))
    return _shared_data_root


def pytest_collection_modifyitems(items):
    """A refusal takes well under a second; a case that runs longer was accepted and is working."""
    for item in items:
        if "bad_input" in str(item.fspath):
            item.add_marker(pytest.mark.timeout(60))
