import pytest

from tests.apply.fixture_kb import fixture_kb


@pytest.fixture(scope="session")
def kb():
    return fixture_kb()
