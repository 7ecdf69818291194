"""Interim: OTLP decoding lands with the span translation module."""

from __future__ import annotations

from aiotrack.tracing.records import TraceSummary

__all__ = ["OtlpError", "decode_export_request"]


class OtlpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def decode_export_request(body: bytes, media_type: str) -> list[TraceSummary]:
    raise OtlpError(501, "REST OTLP span logging is not supported by this server yet")
