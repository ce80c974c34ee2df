"""Deployment API keys: random, shown once, stored as a SHA-256 hash.

A key is 256 random bits, so a plain hash is enough to store it safely (there is nothing to
brute-force as there would be with a password) and lets a request find its key by one indexed
lookup instead of trying a slow hash against every row.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "jam_"
SHOWN_PREFIX = 12  # characters kept in the store so a user can tell their keys apart


def new_key() -> tuple[str, str, str]:
    """A fresh key: ``(key, prefix, hash)``. Only the prefix and the hash are stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:SHOWN_PREFIX], hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_from_header(value: str | None) -> str | None:
    """The key of an ``Authorization: Token <key>`` (or ``Bearer <key>``) header."""
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer") or not key.strip():
        return None
    return key.strip()
