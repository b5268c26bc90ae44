"""Domain errors: a stable code a program can test and a message a clerk can read aloud."""

from typing import ClassVar


class DomainError(Exception):
    """A command refused by the rules of the domain."""

    code: ClassVar[str] = "DOMAIN_ERROR"
    default_message: ClassVar[str] = "The request was refused."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
