"""Base of every event payload: frozen, documented, and named by type and schema version."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shared.topics import Producer

#: Every event type at every schema version: each class registers itself when it is defined
#: (``shared.contracts`` imports every contract module, so all are known once it is imported).
REGISTRY: dict[tuple[str, int], type["EventPayload"]] = {}
#: A version that replaced another, by the version it replaced (``supersedes``).
SUCCESSORS: dict[type["EventPayload"], type["EventPayload"]] = {}


class EventPayload(BaseModel):
    """The fields of one event type at one schema version. Never changed once published."""

    # A reader passes over fields it does not know: a later release may add optional ones
    # (shared.contracts.compat). What we write is only what the event declares.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    producer: ClassVar[Producer]
    #: Other services that publish this same event type on their own topic.
    also_produced_by: ClassVar[tuple[Producer, ...]] = ()
    #: The version this one replaced, when it could not be read as that one (see the
    #: integrator guide): each event of this version is also published in the old shape, with
    #: the same event id, for as long as this is set; the old shape is read as this one.
    supersedes: ClassVar[type["EventPayload"] | None] = None

    def to_payload(self) -> dict[str, Any]:
        """The payload as JSON-ready data for the envelope."""
        return self.model_dump(mode="json")

    def to_superseded(self) -> "EventPayload":
        """This event in the shape of the version it supersedes (those that do define it)."""
        raise TypeError(f"{self.event_type} v{self.schema_version} supersedes no version")

    @classmethod
    def from_superseded(cls, old: "EventPayload") -> "EventPayload":
        """An event of the superseded version, read as this one (those that do define it)."""
        raise TypeError(f"{cls.event_type} v{cls.schema_version} supersedes no version")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A class that names an event type (or a new version of one) is registered."""
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" in cls.__dict__ or "schema_version" in cls.__dict__:
            key = (cls.event_type, cls.schema_version)
            if key in REGISTRY:
                raise TypeError(f"{key[0]} v{key[1]} is declared twice")
            REGISTRY[key] = cls
            if cls.supersedes is not None:
                SUCCESSORS[cls.supersedes] = cls
