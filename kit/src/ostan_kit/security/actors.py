"""Who is calling: set by the gateway from a verified token and carried to the office services as
an assertion the gateway signs (``ostan_kit.security.assertions``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["staff", "citizen", "agency", "system"]
KINDS: frozenset[str] = frozenset({"staff", "citizen", "agency", "system"})
APPLICANT = "applicant"


@dataclass(frozen=True)
class Actor:
    subject: str  # a staff user id, a citizen's national code, or an agency system's id
    kind: Kind
    name: str
    roles: frozenset[str]
    office: str = ""  # office slug, staff only
    agency: str = ""  # agency slug, agency only


SYSTEM = Actor("system", "system", "Ostan", frozenset({"system"}))
