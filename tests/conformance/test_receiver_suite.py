"""The receiver suite passes against the reference receiver (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.server.conftest import Receiver

from strive_client.conformance import run_receiver_suite


def test_reference_receiver_passes(receiver: Receiver) -> None:
    key = receiver.register_asw("conformance-asw")
    report = run_receiver_suite(
        receiver.url, asw_id="conformance-asw", key=key, analyst_token=receiver.token("analyst")
    )
    print(report.table())
    assert report.conformant, report.table()
