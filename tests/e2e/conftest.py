from tests.faults.conftest import make_system, pytest_runtest_makereport

__all__ = ["make_system", "pytest_runtest_makereport"]
