"""Personal data never travels in clear: keyed hashes for look-ups, fields sealed with
AES-256-GCM and bound to the person and the field they belong to."""

import base64
import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    return f"{phone[:3]}****{phone[-4:]}"


def mask_email(address: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``."""
    local, _, domain_part = address.partition("@")
    return f"{local[:1]}***@{domain_part}"


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA256 (hex) of a value under a secret key: stable for look-ups, not reversible."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


class UnreadableError(Exception):
    """The data cannot be decrypted: the key was erased, or the data was tampered with."""


def encrypt_field(key: bytes, person_id: str, field: str, value: str) -> str:
    """Encrypt one field, bound to the person and the field's name; base64 text."""
    return field_sealer(key, person_id)(field, value)


def field_sealer(key: bytes, person_id: str) -> Callable[[str, str], str]:
    """``encrypt_field`` for several fields of one person (the key schedule made once)."""
    aead = AESGCM(key)

    def encrypt(field: str, value: str) -> str:
        return base64.b64encode(seal(aead, value.encode(), f"{person_id}:{field}")).decode()

    return encrypt


def decrypt_field(key: bytes, person_id: str, field: str, token: str) -> str:
    """Decrypt a field sealed by ``encrypt_field``; UnreadableError if it cannot be."""
    try:
        raw = base64.b64decode(token, validate=True)
    except ValueError as exc:
        raise UnreadableError(field) from exc
    return open_sealed(AESGCM(key), raw, f"{person_id}:{field}").decode()


def seal(aead: AESGCM, data: bytes, context: str) -> bytes:
    """Encrypt ``data`` bound to ``context`` (authenticated, never decryptable under another)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, data, context.encode())


def open_sealed(aead: AESGCM, sealed: bytes, context: str) -> bytes:
    """Decrypt what ``seal`` made under the same context; UnreadableError otherwise."""
    try:
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except (InvalidTag, ValueError) as exc:
        raise UnreadableError(context.split(":")[-1]) from exc


def check_key_32(value: str, name: str) -> str:
    """A settings value that must be a base64 32-byte key (AES-256); the value, or why not."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError(f"{name} must be base64") from None
    if len(raw) != 32:
        raise ValueError(f"{name} must decode to 32 bytes")
    return value
