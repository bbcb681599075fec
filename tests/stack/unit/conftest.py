"""``run_app`` for the demo app's tests: demo app processes, stopped at teardown."""

from tests.stack.integration.stack_fixtures import run_app  # noqa: F401
