import pytest


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Benchmarks measure what users get: torch's own number of threads (the suite's
    tests run on one; see tests/conftest.py)."""
    yield
