"""Personal data never travels in clear: keyed hashes for look-ups."""

import hashlib
import hmac


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA256 (hex) of a value under a secret key: stable for look-ups, not reversible."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
