from tests.integration.conftest import stack, unique  # noqa: F401  (the same real stack)
