from datetime import UTC, datetime

from ostan_kit.messaging import cloudevents


def test_binary_mode_headers():
    headers = cloudevents.binary_headers(
        event_id="0190-1",
        source="/ostan/services/foreign-nationals",
        event_type="ostan.foreign-nationals.residence-document-extension.submitted",
        subject="FN-1405-000001-5",
        time=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        data_schema="ostan.common.v1.CaseEvent",
        extra={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == headers["Nats-Msg-Id"] == "0190-1"
    assert headers["ce-time"] == "2026-11-21T12:00:00Z"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"].startswith("00-")


def test_values_outside_printable_ascii_are_percent_encoded_and_read_back():
    headers = cloudevents.binary_headers(
        event_id="1",
        source="/ostan",
        event_type="t",
        subject='تمدید "۱" 100%',
        time=datetime.now(UTC),
    )
    assert headers["ce-subject"].isascii()
    assert " " not in headers["ce-subject"]
    assert cloudevents.attributes(headers)["subject"] == 'تمدید "۱" 100%'
