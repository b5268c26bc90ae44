"""SCRAM users of a secured cluster, as its admin: give a user a password, delete a user, say
which users exist. aiokafka has no requests for these (KIP-554), so they are declared here from
Kafka's own message definitions (``AlterUserScramCredentialsRequest.json``, API 51, and
``DescribeUserScramCredentialsRequest.json``, API 50, both flexible from version 0). Only the
salted password travels (RFC 5802: Hi(password, salt, i), here PBKDF2-HMAC-SHA-512)."""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

#: Kafka's number for SCRAM-SHA-512 (ScramMechanism.SCRAM_SHA_512).
SCRAM_SHA_512 = 2
#: Kafka refuses fewer than 4,096 iterations for SCRAM-SHA-512; its tools default to 4,096.
ITERATIONS = 8192
#: Kafka's RESOURCE_NOT_FOUND: a user with no SCRAM credential.
_NOT_FOUND = 91

_STRING = CompactString("utf-8")


class _AlterResponse(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", _STRING),
                ("error_code", Int16),
                ("error_message", _STRING),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterStruct(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterResponse
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", _STRING), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", _STRING),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _Alter(Request[_AlterStruct]):  # type: ignore[misc]
    API_KEY: ClassVar[int] = 51

    def __init__(self, deletions: list[tuple[object, ...]], upsertions: list[tuple[object, ...]]):
        self.deletions, self.upsertions = deletions, upsertions

    def build(self, request_struct_class: type[_AlterStruct]) -> _AlterStruct:
        return request_struct_class(self.deletions, self.upsertions, {})


class _DescribeResponse(Response):  # type: ignore[misc]
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", _STRING),
        (
            "results",
            CompactArray(
                ("user", _STRING),
                ("error_code", Int16),
                ("error_message", _STRING),
                (
                    "credentials",
                    CompactArray(
                        ("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields)
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DescribeStruct(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = _DescribeResponse
    SCHEMA = Schema(
        ("users", CompactArray(("name", _STRING), ("tags", TaggedFields))), ("tags", TaggedFields)
    )


class _Describe(Request[_DescribeStruct]):  # type: ignore[misc]
    API_KEY: ClassVar[int] = 50

    def __init__(self, users: list[str] | None) -> None:
        self.users = users

    def build(self, request_struct_class: type[_DescribeStruct]) -> _DescribeStruct:
        names: list[tuple[str, dict[int, bytes]]] | None = (
            None if self.users is None else [(name, {}) for name in self.users]
        )
        return request_struct_class(names, {})


class UserRefused(RuntimeError):
    """The cluster refused to change or describe a user; the message says why."""


def salted(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    """RFC 5802's SaltedPassword for SCRAM-SHA-512: Hi(password, salt, iterations)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


async def set_password(admin: AIOKafkaAdminClient, user: str, password: str) -> None:
    """Make ``user`` (or give it a new password) with SCRAM-SHA-512."""
    salt = secrets.token_bytes(32)
    upsertion: tuple[object, ...] = (
        user,
        SCRAM_SHA_512,
        ITERATIONS,
        salt,
        salted(password, salt),
        {},
    )
    await _alter(admin, _Alter([], [upsertion]))


async def delete_user(admin: AIOKafkaAdminClient, user: str) -> None:
    """Remove ``user``'s SCRAM-SHA-512 credential: it can no longer sign in."""
    await _alter(admin, _Alter([(user, SCRAM_SHA_512, {})], []))


async def users(
    admin: AIOKafkaAdminClient, names: list[str] | None = None, node: int | None = None
) -> set[str]:
    """The users with a SCRAM credential (of ``names``, or all), as broker ``node`` (or any)
    knows them."""
    request = _Describe(names)
    response = await admin._send_request(request, node)  # None: any broker
    if response.error_code:
        raise UserRefused(f"refused ({response.error_code} {response.error_message})")
    known = set()
    for user, code, message, _credentials, _tags in response.results:
        if code and code != _NOT_FOUND:
            raise UserRefused(f"user {user}: refused ({code} {message})")
        if not code:
            known.add(user)
    return known


async def _alter(admin: AIOKafkaAdminClient, request: _Alter) -> None:
    response = await admin._send_request(request)
    for user, code, message, _tags in response.results:
        if code:
            raise UserRefused(f"user {user}: refused ({code} {message})")
