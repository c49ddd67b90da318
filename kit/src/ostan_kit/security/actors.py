"""Who is calling: set by the gateway from a verified token and carried to the office services in
the gRPC call's metadata (``x-ostan-actor-*``), whose values must be ASCII."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote

Kind = Literal["staff", "citizen", "agency", "system"]
KINDS: frozenset[str] = frozenset({"staff", "citizen", "agency", "system"})
APPLICANT = "applicant"

ACTOR_ID = "x-ostan-actor-id"
ACTOR_KIND = "x-ostan-actor-kind"
ACTOR_ROLES = "x-ostan-actor-roles"
ACTOR_OFFICE = "x-ostan-actor-office"
ACTOR_AGENCY = "x-ostan-actor-agency"
ACTOR_NAME = "x-ostan-actor-name"


@dataclass(frozen=True)
class Actor:
    subject: str  # a staff user id, a citizen's national code, or an agency system's id
    kind: Kind
    name: str
    roles: frozenset[str]
    office: str = ""  # office slug, staff only
    agency: str = ""  # agency slug, agency only

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            (ACTOR_ID, self.subject),
            (ACTOR_KIND, self.kind),
            (ACTOR_ROLES, ",".join(sorted(self.roles))),
            (ACTOR_OFFICE, self.office),
            (ACTOR_AGENCY, self.agency),
            (ACTOR_NAME, quote(self.name, safe="")),
        )

    @classmethod
    def from_metadata(cls, pairs: Iterable[tuple[str, Any]]) -> Actor:
        """The actor ``metadata()`` wrote, from a call's metadata (keys in any case, other keys
        ignored). ValueError when the id or kind is missing or the kind is unknown."""
        found: dict[str, str] = {}
        for key, value in pairs:
            key = key.lower()
            if key.startswith("x-ostan-actor-") and key not in found:
                found[key] = value.decode("ascii") if isinstance(value, bytes) else str(value)
        subject, kind = found.get(ACTOR_ID, ""), found.get(ACTOR_KIND, "")
        if not subject:
            raise ValueError(f"the call's metadata has no {ACTOR_ID}")
        if not kind:
            raise ValueError(f"the call's metadata has no {ACTOR_KIND}")
        if kind not in KINDS:
            raise ValueError(f"{ACTOR_KIND} {kind!r} is not one of {', '.join(sorted(KINDS))}")
        roles = frozenset(role for role in found.get(ACTOR_ROLES, "").split(",") if role)
        return cls(
            subject=subject,
            kind=kind,  # type: ignore[arg-type]
            name=unquote(found.get(ACTOR_NAME, "")),
            roles=frozenset({APPLICANT}) if kind == "citizen" else roles,
            office=found.get(ACTOR_OFFICE, ""),
            agency=found.get(ACTOR_AGENCY, ""),
        )


SYSTEM = Actor("system", "system", "Ostan", frozenset({"system"}))
