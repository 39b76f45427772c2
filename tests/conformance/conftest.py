"""The conformance suites' tests reuse the reference receiver of tests/server."""

from tests.server.conftest import (  # noqa: F401 - fixtures
    database_url,
    receiver,
    receiver_settings,
)
