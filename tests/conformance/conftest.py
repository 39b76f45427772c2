"""The conformance suites' tests reuse the reference receiver of tests/server, run as
``strive serve`` runs it: with the transparency log's sequencer signing checkpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from strive_server.core.config import Settings
from strive_server.services.tlog import SequencerThread
from tests.server.conftest import (  # noqa: F401 - fixtures
    Receiver,
    database_url,
    receiver_settings,
    running_receiver,
)


@pytest.fixture
def receiver(receiver_settings: Settings) -> Iterator[Receiver]:  # noqa: F811
    """The reference receiver with its log sequencer running every 0.2 s, as in production
    (the server tests' receiver sequences only when a test asks, to see pending entries)."""
    for running in running_receiver(receiver_settings):
        sequencer = SequencerThread(
            running.app.state.engine, receiver_settings.log_signer, interval=0.2
        )
        sequencer.start()
        try:
            yield running
        finally:
            sequencer.stop()
            sequencer.join(timeout=5)
