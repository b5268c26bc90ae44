"""Personal data at rest: a key per person (AES-256-GCM), wrapped under the service's master
key. Destroying a person's key makes every copy of their data unreadable (crypto-shredding)."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.privacy import UnreadableError, decrypt_field, encrypt_field, open_sealed, seal

__all__ = ["UnreadableError", "Vault", "decrypt_field", "dev_master_key", "encrypt_field"]


class Vault:
    """Makes, wraps and uses per-person keys."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._master = AESGCM(master_key)
        self._master_key = master_key

    def __reduce__(self) -> tuple[type[Vault], tuple[bytes]]:
        # Handed to an import's worker processes (over a local pipe) as its key.
        return Vault, (self._master_key,)

    def new_person_key(self, person_id: str) -> tuple[bytes, bytes]:
        """A fresh data key for a person, and its wrapped form to store."""
        key = AESGCM.generate_key(bit_length=256)
        return key, seal(self._master, key, f"{person_id}:key")

    def unwrap(self, person_id: str, wrapped: bytes) -> bytes:
        """The person's data key from its wrapped form."""
        return open_sealed(self._master, wrapped, f"{person_id}:key")


def dev_master_key() -> bytes:
    """The development master key: derived from a public seed, refused in production."""
    return hashlib.sha256(b"shebao-dev-master-key").digest()
