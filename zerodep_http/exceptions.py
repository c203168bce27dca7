"""Exceptions a handler raises to answer with an HTTP error."""

from __future__ import annotations

from http import HTTPStatus
from typing import NoReturn


class HTTPException(Exception):
    """An error response: `status_code` and a message for the client.

    The message defaults to the status' reason phrase, so that
    `abort(404)` answers "Not Found".
    """

    def __init__(self, status_code: int, message: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        if message is None:
            try:
                message = HTTPStatus(status_code).phrase
            except ValueError:
                message = "Error"
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status_code}: {self.message}"


def abort(status_code: int, message: str | None = None) -> NoReturn:
    """Stop the handler and answer with `status_code`."""
    raise HTTPException(status_code, message)
