"""The `Vary` response field, which several response decisions add to."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any


def add_vary(headers: MutableMapping[str, Any], *names: str) -> None:
    """Add request field names to the `vary` field of `headers`.

    `headers` has lower-case names, as response headers do here. A name
    already listed (in any case) is not repeated, and `Vary: *`, which
    already says everything, is left alone (RFC 9110 12.5.5).
    """
    existing = headers.get("vary")
    if isinstance(existing, list):
        existing = ", ".join(str(item) for item in existing)
    listed = [item.strip() for item in (existing or "").split(",") if item.strip()]
    if "*" in listed:
        headers["vary"] = "*"
        return
    seen = {item.lower() for item in listed}
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            listed.append(name)
    headers["vary"] = ", ".join(listed)
