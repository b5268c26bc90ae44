"""Who may call what, for whom: the platform's one authorisation policy.

Every route of every service is listed here, with the roles that may call it and how:

- **staff** roles act with their channel credential and the proof the domain asks for (the
  ID card checked at a window or bank outlet, the card inserted at a hospital or pharmacy);
  operators and the card makers act in their trade.
- **citizen** roles (self-service channels) act only with a citizen token from identity whose
  subject is the person the request names, or, where ``family`` is set, a family holder who
  linked that person; the token must have been issued to the same channel credential.

``shared.authority`` enforces it at every edge; a service refuses to start when one of its
routes is missing here, and README's table is generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from shared.settings import SELF_SERVICE, Role

Service = Literal["identity", "card", "activation", "notification"]


@dataclass(frozen=True)
class Subject:
    """Where a request names the person it acts on: a path parameter or a body field holding a
    person id, or a card id (the person is its holder). With several fields, the token's
    subject may be any one of the persons named."""

    fields: tuple[str, ...]
    kind: Literal["person", "card", "notification"] = "person"
    where: Literal["path", "body"] = "path"


@dataclass(frozen=True)
class Rule:
    """Who may call one route."""

    staff: frozenset[Role] = frozenset()
    citizen: frozenset[Role] = frozenset()
    subject: Subject | None = None
    #: A family holder's token may act for a member the holder linked.
    family: bool = False
    summary: str = ""

    def roles(self) -> frozenset[Role]:
        """Every role that may call the route."""
        return self.staff | self.citizen


def _rule(
    summary: str,
    *,
    staff: tuple[Role, ...] = (),
    citizen: tuple[Role, ...] = (),
    subject: Subject | None = None,
    family: bool = False,
) -> Rule:
    if citizen and subject is None:
        raise ValueError(f"{summary}: a self-service route must name its person")
    return Rule(frozenset(staff), frozenset(citizen), subject, family, summary)


APPS: tuple[Role, ...] = ("citizen_app", "online_hall")
PAY_APPS: tuple[Role, ...] = SELF_SERVICE
EVERY_ROLE: tuple[Role, ...] = get_args(Role)
PERSON = Subject(("person_id",))
BODY_PERSON = Subject(("person_id",), where="body")
HOLDER = Subject(("holder_person_id",))
CARD = Subject(("card_id",), kind="card")


def _timeline(*, family: bool) -> Rule:
    """A service's ``GET /v1/persons/{person_id}/events``; a family holder reads a member's
    where the service learns family links."""
    return _rule(
        "a person's history (right to inquire)",
        staff=("window", "operator"),
        citizen=PAY_APPS,
        subject=PERSON,
        family=family,
    )


POLICY: dict[Service, dict[tuple[str, str], Rule]] = {
    "identity": {
        ("POST", "/v1/persons"): _rule("register a person", staff=("operator", "window")),
        ("POST", "/v1/registry/imports"): _rule("import a registry file", staff=("operator",)),
        ("POST", "/v1/registry/facts"): _rule("issue person facts", staff=("operator",)),
        ("POST", "/v1/persons/{person_id}/erasure"): _rule(
            "erase a person's data", staff=("operator",)
        ),
        ("POST", "/v1/verifications"): _rule(
            "verify (and sign in: a citizen token)",
            staff=("window", "bank", *PAY_APPS),
        ),
        ("GET", "/v1/citizen-tokens/keys"): _rule("identity's public token keys", staff=EVERY_ROLE),
        ("POST", "/v1/persons/{holder_person_id}/family"): _rule(
            "link a family member", staff=("window",), citizen=APPS, subject=HOLDER
        ),
        ("POST", "/v1/persons/{holder_person_id}/family/{member_person_id}/unlink"): _rule(
            "unlink (holder or member)",
            staff=("window",),
            citizen=APPS,
            subject=Subject(("holder_person_id", "member_person_id")),
        ),
        ("POST", "/v1/persons/{holder_person_id}/family/{member_person_id}/grant"): _rule(
            "a minute's grant to act for a member", citizen=PAY_APPS, subject=HOLDER
        ),
        ("GET", "/v1/persons/{holder_person_id}/family"): _rule(
            "a holder's family", staff=("window", "operator"), citizen=APPS, subject=HOLDER
        ),
        ("GET", "/v1/persons/{person_id}/events"): _timeline(family=False),
    },
    "card": {
        ("POST", "/v1/applications"): _rule(
            "apply for a card",
            staff=("window",),
            citizen=APPS,
            subject=BODY_PERSON,
            family=True,
        ),
        ("POST", "/v1/production/batches"): _rule(
            "take a production batch", staff=("printing_agency",)
        ),
        ("GET", "/v1/production/pending"): _rule(
            "applications to produce", staff=("printing_agency", "operator")
        ),
        ("POST", "/v1/cards/{card_id}/production"): _rule(
            "card produced", staff=("printing_agency",)
        ),
        ("POST", "/v1/cards/{card_id}/production-failure"): _rule(
            "production failed", staff=("printing_agency",)
        ),
        ("POST", "/v1/cards/{card_id}/mailing"): _rule(
            "card mailed", staff=("printing_agency", "courier")
        ),
        ("POST", "/v1/cards/{card_id}/branch"): _rule(
            "card sent to a branch", staff=("printing_agency",)
        ),
        ("POST", "/v1/cards/{card_id}/delivery"): _rule("card delivered", staff=("courier",)),
        ("POST", "/v1/cards/{card_id}/collection"): _rule(
            "card collected at a window", staff=("window",)
        ),
        ("POST", "/v1/cards/{card_id}/loss"): _rule(
            "report a card lost", staff=("window",), citizen=APPS, subject=CARD, family=True
        ),
        ("POST", "/v1/cards/{card_id}/unblock"): _rule(
            "lift a temporary loss", staff=("window",), citizen=APPS, subject=CARD
        ),
        ("POST", "/v1/cards/{card_id}/replacement"): _rule(
            "replace a card", staff=("window",), citizen=APPS, subject=CARD, family=True
        ),
        ("POST", "/v1/cards/{card_id}/cancellation"): _rule(
            "cancel a card", staff=("window", "operator")
        ),
        ("POST", "/v1/ecards"): _rule(
            "claim the e-card",
            staff=("window",),
            citizen=PAY_APPS,
            subject=BODY_PERSON,
            family=True,
        ),
        ("POST", "/v1/ecards/{person_id}/channels"): _rule(
            "bind the calling channel to one's e-card", citizen=PAY_APPS, subject=PERSON
        ),
        ("POST", "/v1/ecards/{person_id}/channels/{channel}/unlink"): _rule(
            "unlink a channel from one's e-card",
            staff=("window",),
            citizen=PAY_APPS,
            subject=PERSON,
        ),
        ("GET", "/v1/cards/{card_id}"): _rule(
            "a card and the events behind it",
            staff=("window", "printing_agency", "operator"),
            citizen=APPS,
            subject=CARD,
            family=True,
        ),
        ("GET", "/v1/persons/{person_id}/events"): _timeline(family=True),
    },
    "activation": {
        ("POST", "/v1/activations"): _rule(
            "activate a card (window or bank outlet with the ID card; online)",
            staff=("window", "bank"),
            citizen=APPS,
            subject=BODY_PERSON,
            family=True,
        ),
        ("POST", "/v1/ecards/{person_id}/activation"): _rule(
            "set the e-card password", citizen=PAY_APPS, subject=PERSON
        ),
        ("POST", "/v1/hospital/registrations"): _rule(
            "activate by a hospital registration", staff=("hospital",)
        ),
        ("POST", "/v1/pharmacy/card-switch"): _rule(
            "activate at a pharmacy (old card, then new)", staff=("pharmacy",)
        ),
        ("POST", "/v1/cards/{card_id}/financial-function"): _rule(
            "activate the bank function", staff=("bank",)
        ),
        ("POST", "/v1/settlements/authorize"): _rule(
            "authorise a settlement (card inserted)", staff=("hospital", "pharmacy")
        ),
        ("POST", "/v1/cards/{card_id}/password"): _rule(
            "change a card password",
            staff=("window", "hospital", "pharmacy"),
            citizen=APPS,
            subject=CARD,
        ),
        ("POST", "/v1/cards/{card_id}/password/recovery"): _rule(
            "unlock or reset a card password", staff=("window",), citizen=APPS, subject=CARD
        ),
        ("POST", "/v1/ecards/{person_id}/payments/authorize"): _rule(
            "authorise an e-card payment", staff=("hospital", "pharmacy")
        ),
        ("POST", "/v1/ecards/{person_id}/password/recovery"): _rule(
            "unlock or reset the e-card password",
            staff=("window",),
            citizen=PAY_APPS,
            subject=PERSON,
        ),
        ("POST", "/v1/persons/{person_id}/sms-codes"): _rule(
            "send oneself a one-time code by SMS (recovery)", citizen=PAY_APPS, subject=PERSON
        ),
        ("POST", "/v1/ecards/{person_id}/payment-codes"): _rule(
            "show an e-card payment code", citizen=PAY_APPS, subject=PERSON, family=True
        ),
        ("POST", "/v1/payment-codes/redeem"): _rule(
            "redeem a payment code", staff=("hospital", "pharmacy")
        ),
        ("GET", "/v1/payment-codes/keys"): _rule(
            "payment code public keys",
            staff=("hospital", "pharmacy", "window", "bank", "operator", *PAY_APPS),
        ),
        ("GET", "/v1/persons/{person_id}/events"): _timeline(family=True),
    },
    "notification": {
        ("PUT", "/v1/persons/{person_id}/preferences"): _rule(
            "choose channels and language",
            staff=("window", "operator"),
            citizen=APPS,
            subject=PERSON,
        ),
        ("GET", "/v1/persons/{person_id}/preferences"): _rule(
            "one's notification choices",
            staff=("window", "operator"),
            citizen=APPS,
            subject=PERSON,
        ),
        ("GET", "/v1/persons/{person_id}/messages"): _rule(
            "one's messages and their delivery", staff=("operator",), citizen=APPS, subject=PERSON
        ),
        ("GET", "/v1/notifications/{notification_id}"): _rule(
            "one message's delivery log",
            staff=("operator",),
            subject=Subject(("notification_id",), kind="notification"),
        ),
        ("POST", "/v1/notifications/{notification_id}/retry"): _rule(
            "retry a failed message", staff=("operator",)
        ),
        ("GET", "/v1/persons/{person_id}/events"): _timeline(family=False),
    },
}


def markdown_table() -> str:
    """The policy as a Markdown table (README's copy is checked against it)."""
    lines = [
        "| service | route | staff (credential + proof) | self-service (citizen token) |",
        "|---|---|---|---|",
    ]
    for service, rules in POLICY.items():
        for (method, path), rule in rules.items():
            staff = ", ".join(sorted(rule.staff)) or "-"
            if rule.citizen:
                whom = "self or family holder" if rule.family else "self only"
                citizen = f"{', '.join(sorted(rule.citizen))}: {whom}"
            else:
                citizen = "-"
            lines.append(f"| {service} | `{method} {path}` | {staff} | {citizen} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
