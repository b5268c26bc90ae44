"""Personal data at rest: a key per person (AES-256-GCM), wrapped under the service's master
key. Destroying a person's key makes every copy of their data unreadable (crypto-shredding)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class UnreadableError(Exception):
    """The data cannot be decrypted: the key was erased, or the data was tampered with."""


class Vault:
    """Makes, wraps and uses per-person keys."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._master = AESGCM(master_key)

    def new_person_key(self, person_id: str) -> tuple[bytes, bytes]:
        """A fresh data key for a person, and its wrapped form to store."""
        key = AESGCM.generate_key(bit_length=256)
        return key, _seal(self._master, key, f"{person_id}:key")

    def unwrap(self, person_id: str, wrapped: bytes) -> bytes:
        """The person's data key from its wrapped form."""
        return _open(self._master, wrapped, f"{person_id}:key")


def encrypt_field(key: bytes, person_id: str, field: str, value: str) -> str:
    """Encrypt one field, bound to the person and the field's name; base64 text."""
    return base64.b64encode(_seal(AESGCM(key), value.encode(), f"{person_id}:{field}")).decode()


def decrypt_field(key: bytes, person_id: str, field: str, token: str) -> str:
    """Decrypt a field sealed by ``encrypt_field``; UnreadableError if it cannot be."""
    try:
        raw = base64.b64decode(token, validate=True)
    except ValueError as exc:
        raise UnreadableError(field) from exc
    return _open(AESGCM(key), raw, f"{person_id}:{field}").decode()


def _seal(aead: AESGCM, data: bytes, context: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, data, context.encode())


def _open(aead: AESGCM, sealed: bytes, context: str) -> bytes:
    try:
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except (InvalidTag, ValueError) as exc:
        raise UnreadableError(context.split(":")[-1]) from exc


def dev_master_key() -> bytes:
    """The development master key: derived from a public seed, refused in production."""
    return hashlib.sha256(b"shebao-dev-master-key").digest()
