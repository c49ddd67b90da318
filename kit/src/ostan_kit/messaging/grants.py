"""Event grants: which agency receives which of a service's events and which form fields go with
them, each with its legal basis. Data owned by the publishing service
(``events/grants.yaml`` inside each service's package); deny by default."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ostan_kit.agencies import agencies
from ostan_kit.messaging.natsauth import agency_event_subject
from ostan_kit.processes.definitions import ProcessBook
from ostan_kit.runtime.registry import SERVICES

SLUG = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
# The events the engine itself publishes for every process, besides its start and actions.
ENGINE_EVENTS = ("document-attached", "sla-warning", "sla-breached", "process-sla-warning", "process-sla-breached")


class GrantError(ValueError):
    pass


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: str = Field(pattern=SLUG)
    process: str = Field(pattern=SLUG)
    events: tuple[str, ...] = Field(min_length=1)
    fields: tuple[str, ...] = ()
    legal_basis: str = Field(min_length=10)
    source: str = Field(min_length=3)
    # Set when read: the service that publishes (and owns) the grant.
    service: str = ""

    def subjects(self) -> list[str]:
        return [agency_event_subject(self.agency, self.service, self.process, event) for event in self.events]


@dataclass(frozen=True)
class EventGrants:
    service: str
    grants: tuple[Grant, ...]

    def matching(self, process: str, event: str) -> list[Grant]:
        return [grant for grant in self.grants if grant.process == process and event in grant.events]

    def check_against(self, book: ProcessBook) -> None:
        """Every grant names a process this service runs, events it publishes and fields of its form."""
        problems = []
        for number, grant in enumerate(self.grants):
            definition = book.latest.get(grant.process)
            if definition is None:
                problems.append(f"grant {number}: {grant.process!r} is not a process of {self.service}")
                continue
            known = {definition.start.event, *(action.event_name for action in definition.actions), *ENGINE_EVENTS}
            for event in grant.events:
                if event not in known:
                    problems.append(f"grant {number}: {grant.process} publishes no event {event!r}")
            for name in grant.fields:
                if name not in definition.fields:
                    problems.append(f"grant {number}: {name!r} is not a field of {grant.process}'s form")
        if problems:
            raise GrantError(f"{self.service} event grants: " + "; ".join(problems))


def read_grants(service: str, path: Path) -> EventGrants:
    """The grants in ``path``; a missing file grants nothing."""
    if not path.exists():
        return EventGrants(service, ())
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        grants = tuple(Grant.model_validate({**item, "service": service}) for item in raw.get("grants") or [])
    except ValidationError as error:
        raise GrantError(f"{path}: {error}") from error
    known = agencies()
    for grant in grants:
        if grant.agency not in known:
            raise GrantError(f"{path}: {grant.agency!r} is not an agency of agencies.yaml")
    seen = set()
    for grant in grants:
        for event in grant.events:
            if (grant.agency, grant.process, event) in seen:
                raise GrantError(f"{path}: {grant.agency} × {grant.process}.{event} is granted twice")
            seen.add((grant.agency, grant.process, event))
    return EventGrants(service, grants)


def service_root(service: str) -> Path:
    """The package folder of ``service`` (its data lives inside it), found without importing it."""
    spec = importlib.util.find_spec(SERVICES[service].package)
    if spec is None or spec.origin is None:
        raise GrantError(f"the {service} service is not installed")
    return Path(spec.origin).resolve().parent


def grants_file(root: Path) -> Path:
    return root / "events" / "grants.yaml"


def load_all_grants() -> dict[str, list[Grant]]:
    """Every installed service's grants, by service."""
    return {
        service: list(read_grants(service, grants_file(service_root(service))).grants) for service in SERVICES
    }
