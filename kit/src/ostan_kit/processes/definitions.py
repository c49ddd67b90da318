"""Process definitions, kept as data in each service's ``processes/`` folder.

A definition names its application form (a message of the service's proto package) and the rule
of each field; its roles and document kinds; its states (with SLA in days read by kit's one day
rule, ``ostan_kit.text.workdays``, the role each waits for, and the terminal outcomes) and the actions between them (roles, required documents,
guards, outbound inquiries). Everything is checked when the service starts: a wrong definition
stops the start with a message naming the file, the line and the problem.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ostan.common.v1 import forms_pb2  # noqa: F401 — registers the generic request's form
from ostan_kit.processes.fields import KINDS
from ostan_kit.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from ostan_kit.text.persian import TEHRAN, ascii_digits, parse_jalali_date

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# A state's or a role's name (a process's and an action's are slugs too): a case list is
# filtered by them, and the services refuse any other filter.
Name = Annotated[str, Field(pattern=SLUG)]
# kit's shared definitions, one file per version (``commission@1.yaml``): a release adds a new
# version beside the old ones and never removes a version a case may still run under.
SHARED = Path(__file__).with_name("shared")
GENERIC_SLUG = "generic-request"
PINNED = re.compile(r"^([a-z0-9]+(?:-[a-z0-9]+)*)@([1-9][0-9]*)$")
# The key under which the engine gives guards the state of the case's outbound inquiries.
INQUIRY_SUMMARY = "__inquiries__"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldRule(_Model):
    kind: str
    required: bool = False
    # An action's field has no proto to carry its label, so its rule does.
    title_fa: str = ""

    @model_validator(mode="after")
    def _known_kind(self) -> FieldRule:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; known: {sorted(KINDS)}")
        return self


# The largest document any definition may allow: the gateway's and the gRPC channels' limits
# are derived from it (each kind has its own, usually smaller, limit).
MAX_DOCUMENT_BYTES = 50_000_000


class DocumentKind(_Model):
    title_fa: str
    types: list[str] = Field(min_length=1)
    max_bytes: int = Field(gt=0, le=MAX_DOCUMENT_BYTES)


class Condition(_Model):
    field: str
    equals: Any


class Guard(_Model):
    """A rule an action checks against the case's form and the action's fields.

    ``source`` says where the rule comes from (a seed line or the law it cites); the error a
    broken guard gives names the rule and its source.
    """

    rule: str = Field(pattern=SLUG)
    kind: Literal[
        "min-items",
        "max-items",
        "min-value",
        "max-value",
        "min-days-ahead",
        "required",
        "each-has",
        "more-than-share",
        "at-least-share",
        # Broken whenever its ``when`` holds: an action one branch of a process does not take.
        "forbidden",
        # Outbound inquiries sent from the current state: every answer arrived / none negative.
        "inquiries-answered",
        "inquiries-positive",
    ]
    field: str
    value: float | int | None = None
    # each-has: the keys every record of the list must fill.
    keys: list[str] = []
    # more-than-share, at-least-share: the list whose size (or the number) the field's size is
    # compared with, e.g. attendees against members for a quorum.
    of: str = ""
    when: Condition | None = None
    message: str
    source: str

    def broken(self, values: dict[str, Any], now: datetime) -> bool:
        if self.when is not None and values.get(self.when.field) != self.when.equals:
            return False
        if self.kind.startswith("inquiries-"):
            summary = values.get(INQUIRY_SUMMARY) or {}
            key = "pending" if self.kind == "inquiries-answered" else "not_positive"
            return summary.get(key, 0) > 0
        value = values.get(self.field)
        if self.kind == "forbidden":
            return True
        if self.kind == "required":
            return value in (None, "", [])
        if value in (None, "", []):
            return False  # requiredness is the field rule's business
        if self.kind == "each-has":
            return any(not isinstance(item, dict) or any(not item.get(key) for key in self.keys) for item in value)
        if self.kind in ("more-than-share", "at-least-share"):
            base = values.get(self.of)
            # ``of`` names a list (its size counts) or a number (a capacity).
            size = base if isinstance(base, int | float) and not isinstance(base, bool) else len(base or [])
            needed = float(self.value or 0) * size
            return not (len(value) > needed if self.kind == "more-than-share" else len(value) >= needed)
        if self.kind in ("min-items", "max-items"):
            count = len(value) if isinstance(value, list) else 1
            return count < self.value if self.kind == "min-items" else count > self.value
        if self.kind in ("min-value", "max-value"):
            number = float(ascii_digits(str(value)))
            return number < self.value if self.kind == "min-value" else number > self.value
        # min-days-ahead: a Jalali date (optionally with a time) at least ``value`` days after now
        day = parse_jalali_date(str(value).split(" ")[0])
        earliest = (now.astimezone(TEHRAN) + timedelta(days=float(self.value or 0))).date()
        return day < earliest


class State(_Model):
    title_fa: str = ""
    # The role whose inbox the case is in while in this state; none for a terminal state.
    assignee_role: str | None = None
    # Or the form field that names that role (a resolution's owner_role).
    assignee_field: str = ""
    # A Jalali-date form field: the state is due when that day ends (a resolution's deadline; a
    # day on which offices are closed moves it to the next working day, as the day rule does).
    due_field: str = ""
    # Days by the day rule (calendar days counted as the Civil Procedure Law counts them).
    sla_days: int | None = Field(default=None, gt=0)
    # Only where the source itself says «روز کاری»; the definition's working_days_source cites it.
    sla_working_days: float | None = Field(default=None, gt=0)
    terminal: bool = False
    outcome: Literal["granted", "refused", "withdrawn", "delivered", "closed"] | None = None

    @model_validator(mode="after")
    def _terminal_has_outcome(self) -> State:
        if self.terminal != (self.outcome is not None):
            raise ValueError("a terminal state has an outcome, and only a terminal state has one")
        if self.terminal and (
            self.assignee_role or self.assignee_field or self.due_field or self.sla_days or self.sla_working_days
        ):
            raise ValueError("a terminal state waits for no one and has no SLA")
        if self.assignee_role and self.assignee_field:
            raise ValueError("a state waits for a role or for the role a field names, not both")
        if self.due_field and (self.sla_days or self.sla_working_days):
            raise ValueError("a state is due by a date field or after days, not both")
        if self.sla_days and self.sla_working_days:
            raise ValueError("an SLA is in days or in working days, not both")
        return self


class Children(_Model):
    """Child cases an action opens, one per record of a list field: e.g. a meeting's resolutions,
    each followed up as a case of kit's shared ``resolution`` definition. A record's keys that are
    fields of the child's form fill them; ``copies`` fills child fields from the parent's
    (child field: parent field); the engine writes the parent's tracking code into
    ``code_field`` and the record's 1-based position into ``number_field``."""

    # kit's shared definition, pinned: ``resolution@1``.
    definition: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*@[1-9][0-9]*$")
    each: str
    copies: dict[str, str] = {}
    code_field: str = ""
    number_field: str = ""


class Action(_Model):
    name: str = Field(pattern=SLUG)
    title_fa: str = ""
    from_states: list[str] = Field(alias="from", min_length=1)
    to: str
    roles: list[str] = Field(min_length=1)
    event: str = ""
    requires_documents: list[str] = []
    requires_comment: bool = False
    fields: dict[str, FieldRule] = {}
    guards: list[Guard] = []
    # Named outbound inquiries this step sends to other agencies (the exchange is its own issue).
    inquiries: list[str] = []
    # Child cases this action opens (see Children).
    opens: Children | None = None
    # The engine fills this field with the open child cases of earlier cases of the same process
    # (a commission's earlier meetings) and moves them to this case, which follows them up now.
    carries_open: str = ""
    # The engine fills this field with this case's child cases and where each stands.
    reports_children: str = ""

    @property
    def event_name(self) -> str:
        return self.event or self.name


class Issues(_Model):
    """What a case that reaches a granted state issues: a permit, licence, card or certificate,
    signed by the service, which its applicant can show and anyone can verify by its code."""

    kind: Literal["permit", "licence", "card", "certificate"]
    title_fa: str
    title_en: str = ""
    # The case's fields it shows (the form's or an action's), in this order.
    fields: list[str] = Field(min_length=1)
    # A Jalali-date field until which it is valid; without one it is valid until revoked.
    valid_until: str | None = None
    # Who may revoke it (staff roles of the definition).
    revoke_roles: list[str] = Field(min_length=1)


class Applicant(_Model):
    """Which form fields identify the applicant of a case that staff start on their behalf."""

    id: str
    name: str = ""


class Start(_Model):
    state: str
    event: str = "submitted"
    roles: list[str] = Field(min_length=1)
    guards: list[Guard] = []


class ProcessDefinition(_Model):
    slug: str = Field(pattern=SLUG)
    version: int = Field(ge=1)
    title_fa: str
    title_en: str
    # The catalogue entries this definition runs; the generic definition names none.
    catalogue: list[str] = []
    # The office that runs it, for a definition whose source has no catalogue row to name it
    # (a diagram the booklet's table lost); otherwise the office comes from the first entry.
    office: str = Field(default="", pattern=r"^$|^[a-z0-9]+(?:-[a-z0-9]+)*$")
    form: str
    fields: dict[str, FieldRule]
    roles: dict[Name, str]
    supervisor_role: str
    documents: dict[str, DocumentKind] = {}
    start: Start
    states: dict[Name, State]
    actions: list[Action]
    sla_days: int | None = Field(default=None, gt=0)
    sla_working_days: float | None = Field(default=None, gt=0)
    # Where the source says «روز کاری»: the seed line that lets sla_working_days override the day rule.
    working_days_source: str = ""
    # Roles that stand for the role a form field names: {owner: owner_role} lets an action's
    # ``roles: [owner]`` mean whichever role the case's owner_role holds.
    role_fields: dict[str, str] = {}
    # A definition only another case's action opens (Children), never started on its own.
    opened_by_parent: bool = False
    # By default the applicant is the form's national_code (or document_number) and full_name.
    applicant: Applicant | None = None
    issues: Issues | None = None
    # Set for definitions read from a file: where they came from, for error messages.
    origin: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _working_days_cited(self) -> ProcessDefinition:
        working = self.sla_working_days or any(state.sla_working_days for state in self.states.values())
        if working and not self.working_days_source.strip():
            raise ValueError(
                "sla_working_days overrides the day rule only where the source says «روز کاری»: "
                "cite it in working_days_source"
            )
        if self.sla_days and self.sla_working_days:
            raise ValueError("an SLA is in days or in working days, not both")
        return self

    def form_class(self) -> type[Message]:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(self.form)
        return message_factory.GetMessageClass(descriptor)

    def actual_roles(self, roles: list[str], data: dict[str, Any]) -> list[str]:
        """``roles`` with each role that stands for a form field replaced by the role it names."""
        return [str(data.get(self.role_fields[role]) or "") if role in self.role_fields else role for role in roles]

    def assignee(self, state: str, data: dict[str, Any]) -> str | None:
        rule = self.states[state]
        return str(data.get(rule.assignee_field) or "") or None if rule.assignee_field else rule.assignee_role

    def opens(self) -> list[Children]:
        return [action.opens for action in self.actions if action.opens]

    def action(self, name: str) -> Action | None:
        return next((action for action in self.actions if action.name == name), None)

    def actions_from(self, state: str) -> list[Action]:
        return [action for action in self.actions if state in action.from_states]

    def validate_form(self, data: dict[str, Any]) -> dict[str, Any]:
        """The form as it will be stored, or InvalidArgument naming every bad field."""
        try:
            json_format.ParseDict(data, self.form_class()())
        except json_format.ParseError as error:
            raise InvalidArgument(
                "the form does not match " + self.form, [FieldViolation("data", str(error))]
            ) from error
        return _apply_rules(self.fields, data, "data")

    def validate_action_data(self, action: Action, data: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(data) - set(action.fields))
        if unknown:
            raise InvalidArgument(
                f"the action {action.name} takes no fields {unknown}",
                [FieldViolation(f"data.{name}", "not a field of this action") for name in unknown],
            )
        return _apply_rules(action.fields, data, "data")


def _apply_rules(rules: dict[str, FieldRule], data: dict[str, Any], prefix: str) -> dict[str, Any]:
    violations: list[FieldViolation] = []
    stored: dict[str, Any] = {}
    for name, rule in rules.items():
        value = data.get(name)
        if value in (None, "", []):
            if rule.required:
                violations.append(FieldViolation(f"{prefix}.{name}", "is required"))
            continue
        try:
            stored[name] = KINDS[rule.kind](value)
        except ValueError as error:
            violations.append(FieldViolation(f"{prefix}.{name}", str(error)))
    if violations:
        raise InvalidArgument("the form has invalid fields", violations)
    return stored


def check_guards(guards: list[Guard], values: dict[str, Any], now: datetime) -> None:
    broken = [guard for guard in guards if guard.broken(values, now)]
    if broken:
        raise InvalidArgument(
            "; ".join(f"{guard.message} (rule {guard.rule}; source: {guard.source})" for guard in broken),
            [
                FieldViolation(f"data.{guard.field}", f"{guard.message} (rule {guard.rule}; source: {guard.source})")
                for guard in broken
            ],
        )


# -- reading and checking files --------------------------------------------------------------


class DefinitionError(ValueError):
    """A definition file is wrong; the message names the file, the line and the problem."""


class UnknownVersion(FailedPrecondition):
    """A case runs under a definition version this service no longer has."""


def _lines(node: yaml.Node, path: tuple[Any, ...] = (), found: dict | None = None) -> dict[tuple, int]:
    """The 1-based line of every key and item of a YAML document, by its path."""
    found = {} if found is None else found
    found.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found)
    return found


def _line_of(lines: dict[tuple, int], path: tuple[Any, ...]) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def read_definition(path: Path, pin: str | None = None) -> ProcessDefinition:
    """A definition file, checked. ``extends: <name>@<version>`` starts from that version of a
    shared definition of kit's (``processes/shared/<name>@<version>.yaml``, e.g. the commission
    pattern) and overrides its top-level keys; the version is pinned, so a kit release with a
    newer pattern changes nothing until the office moves its pin."""
    text = path.read_text("utf-8")
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path}: not YAML: {error}") from error
    lines = _lines(node) if node is not None else {}
    if isinstance(raw, dict) and "extends" in raw:
        raw = {**_shared(pin or raw["extends"], f"{path}:{_line_of(lines, ('extends',))}"), **raw}
        del raw["extends"]

    def fail(where: tuple[Any, ...], problem: str) -> DefinitionError:
        return DefinitionError(f"{path}:{_line_of(lines, where)}: {problem}")

    # The action list is written with "from:" keys; pydantic's locations use the same names.
    try:
        definition = ProcessDefinition.model_validate({**(raw or {}), "origin": str(path)})
    except ValidationError as error:
        first = error.errors()[0]
        raise fail(tuple(first["loc"]), f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from error
    try:
        descriptor = definition.form_class().DESCRIPTOR
    except KeyError as error:
        raise fail(("form",), f"form {definition.form!r} is not a known message") from error
    for problem, where in _problems(definition, {field.name for field in descriptor.fields}):
        raise fail(where, problem)
    return definition


def _shared(pin: Any, where: str) -> dict[str, Any]:
    """The shared definition ``<name>@<version>`` names, as data."""
    match = PINNED.match(pin) if isinstance(pin, str) else None
    if match is None:
        available = ", ".join(sorted(path.stem for path in SHARED.glob("*@*.yaml")))
        raise DefinitionError(f"{where}: extends {pin!r}: pin a version, one of {available}")
    base = SHARED / f"{pin}.yaml"
    if not base.is_file():
        available = ", ".join(sorted(path.stem for path in SHARED.glob(f"{match[1]}@*.yaml"))) or "none"
        raise DefinitionError(f"{where}: extends {pin!r}: kit has no such shared definition (has: {available})")
    shared = yaml.safe_load(base.read_text("utf-8"))
    if shared.get("slug") != match[1] or shared.get("version") != int(match[2]):
        raise DefinitionError(f"{base}: its slug and version do not match its file name")
    return shared


def shared_versions(name: str) -> list[ProcessDefinition]:
    """Every version kit keeps of the shared definition ``name``, oldest first."""
    found = [read_definition(path) for path in SHARED.glob(f"{name}@*.yaml")]
    return sorted(found, key=lambda definition: definition.version)


def action_sends_from(definition: ProcessDefinition, action: Action) -> bool:
    """Whether some action into one of ``action``'s states sends inquiries (which its
    inquiries-* guards then wait for)."""
    return any(other.inquiries and other.to in action.from_states for other in definition.actions)


def _problems(definition: ProcessDefinition, form_fields: set[str]):
    """(problem, path) for everything wrong beyond the schema: unknown names, unreachable states,
    dead ends that are not terminal."""
    for name in sorted(set(definition.fields) - form_fields):
        yield f"field {name!r} is not in {definition.form}", ("fields", name)
    for name in sorted(form_fields - set(definition.fields)):
        yield f"field {name!r} of {definition.form} has no rule", ("fields",)
    if definition.applicant:
        for name in filter(None, (definition.applicant.id, definition.applicant.name)):
            if name not in form_fields:
                yield f"applicant field {name!r} is not in {definition.form}", ("applicant",)
    roles = set(definition.roles)
    states = definition.states
    if definition.supervisor_role not in roles:
        yield f"unknown role {definition.supervisor_role!r}", ("supervisor_role",)
    if definition.start.state not in states:
        yield f"unknown state {definition.start.state!r}", ("start", "state")
    for role in definition.start.roles:
        if role not in roles:
            yield f"unknown role {role!r}", ("start", "roles")
    for role, field in definition.role_fields.items():
        if role not in roles:
            yield f"role_fields: unknown role {role!r}", ("role_fields", role)
        if field not in form_fields:
            yield f"role_fields: field {field!r} is not in {definition.form}", ("role_fields", role)
    for name, state in states.items():
        if state.assignee_role and state.assignee_role not in roles:
            yield f"unknown role {state.assignee_role!r}", ("states", name, "assignee_role")
        if not state.terminal and not state.assignee_role and not state.assignee_field:
            yield f"state {name!r} waits for no role", ("states", name)
        for key in ("assignee_field", "due_field"):
            if getattr(state, key) and getattr(state, key) not in form_fields:
                yield f"state {name!r}: {key} {getattr(state, key)!r} is not in {definition.form}", ("states", name)
    names = [action.name for action in definition.actions]
    for index, action in enumerate(definition.actions):
        where = ("actions", index)
        if names.count(action.name) > 1:
            yield f"action {action.name!r} is defined twice", (*where, "name")
        for state in [*action.from_states, action.to]:
            if state not in states:
                yield f"action {action.name!r}: unknown state {state!r}", where
            elif state in action.from_states and states[state].terminal:
                yield f"action {action.name!r} leaves terminal state {state!r}", (*where, "from")
        for role in action.roles:
            if role not in roles:
                yield f"action {action.name!r}: unknown role {role!r}", (*where, "roles")
        for document in action.requires_documents:
            if document not in definition.documents:
                yield f"action {action.name!r}: unknown document {document!r}", (*where, "requires_documents")
        every_field = {name for other in definition.actions for name in other.fields} | set(definition.fields)
        if action.opens and action.opens.each not in every_field:
            yield f"action {action.name!r} opens a case for each of an unknown field {action.opens.each!r}", (
                *where,
                "opens",
            )
        if action.opens:
            for parent_field in action.opens.copies.values():
                if parent_field not in definition.fields:
                    yield f"action {action.name!r} copies unknown field {parent_field!r}", (*where, "opens")
        if (action.carries_open or action.reports_children) and not definition.opens():
            yield f"action {action.name!r} follows up child cases but no action opens any", where
        for guard in action.guards:
            if guard.kind.startswith("inquiries-"):
                if not action_sends_from(definition, action):
                    yield f"action {action.name!r}: guard {guard.rule!r}: no action into its states sends inquiries", (
                        *where,
                        "guards",
                    )
                continue
            # A guard checks the form, this action's fields, or what an earlier action recorded.
            if guard.field not in every_field:
                yield f"action {action.name!r}: guard {guard.rule!r} checks unknown field {guard.field!r}", (
                    *where,
                    "guards",
                )
    if definition.issues is not None:
        issues = definition.issues
        known = {**definition.fields, **{n: r for a in definition.actions for n, r in a.fields.items()}}
        for name in issues.fields:
            if name not in known:
                yield f"issues: unknown field {name!r} (neither the form's nor an action's)", ("issues", "fields")
        if issues.valid_until and known.get(issues.valid_until, FieldRule(kind="text")).kind != "jalali-date":
            yield f"issues: valid_until {issues.valid_until!r} is no Jalali-date field", ("issues", "valid_until")
        for role in issues.revoke_roles:
            if role not in roles:
                yield f"issues: unknown role {role!r}", ("issues", "revoke_roles")
        if not any(state.outcome == "granted" for state in states.values()):
            yield "issues: no state has the outcome granted, so nothing is ever issued", ("issues",)
    for guard in definition.start.guards:
        if guard.field not in definition.fields:
            yield f"start guard {guard.rule!r} checks unknown field {guard.field!r}", ("start", "guards")
    if definition.start.state in states:
        reached = {definition.start.state}
        queue = deque([definition.start.state])
        while queue:
            for action in definition.actions_from(queue.popleft()):
                if action.to in states and action.to not in reached:
                    reached.add(action.to)
                    queue.append(action.to)
        for name in states:
            if name not in reached:
                yield f"state {name!r} cannot be reached from {definition.start.state!r}", ("states", name)
        for name, state in states.items():
            if not state.terminal and not definition.actions_from(name):
                yield f"state {name!r} is a dead end but not terminal", ("states", name)


class ProcessBook:
    """Every version of every definition of a service, the generic request definition, and the
    shared definitions whose cases other cases open (``children``: not started on their own)."""

    def __init__(
        self,
        definitions: list[ProcessDefinition],
        generic: ProcessDefinition,
        older: list[ProcessDefinition] = (),  # type: ignore[assignment]
        children: list[ProcessDefinition] = (),  # type: ignore[assignment]
    ) -> None:
        """``generic`` is the generic request new cases run; ``older`` are versions cases may
        still run under (kit's other versions of the generic request, a body's versions on the
        shared definitions it pinned before); ``children`` are the shared definitions whose cases
        other cases open, by their pin (``resolution@1``): never started on their own."""
        self.generic = generic
        self.children = {f"{child.slug}@{child.version}": child for child in children}
        child_slugs = {child.slug for child in children}
        self._versions: dict[tuple[str, int], ProcessDefinition] = {}
        for definition in [*definitions, generic, *self.children.values()]:
            key = (definition.slug, definition.version)
            if key in self._versions:
                raise DefinitionError(
                    f"{definition.origin}: {definition.slug} version {definition.version} is defined twice"
                )
            self._versions[key] = definition
        for definition in older:
            self._versions.setdefault((definition.slug, definition.version), definition)
        self.latest: dict[str, ProcessDefinition] = {}
        for (slug, _version), definition in sorted(self._versions.items()):
            if slug not in child_slugs:
                self.latest[slug] = definition
        self.by_entry: dict[str, ProcessDefinition] = {}
        for definition in definitions:
            for entry in definition.catalogue:
                self.by_entry[entry] = definition

    def version(self, slug: str, version: int) -> ProcessDefinition:
        """A definition by slug and version; ``UnknownVersion`` when this service has none."""
        try:
            return self._versions[(slug, version)]
        except KeyError:
            raise UnknownVersion(f"{slug} version {version} is not among this service's definitions") from None

    def own(self) -> list[str]:
        return sorted(slug for slug in self.latest if slug != self.generic.slug)

    def largest_document(self) -> int:
        """The largest document any version of any definition here takes (0 when none does)."""
        return max(
            (kind.max_bytes for definition in self._versions.values() for kind in definition.documents.values()),
            default=0,
        )


def load_processes(folder: Path) -> ProcessBook:
    """Every definition in ``folder`` and every version of kit's generic request, each checked;
    the first problem stops the start, naming its file and line. New generic cases run the
    version the folder pins (its ``generic-request`` definition, ``extends: generic-request@N``),
    or kit's newest when it pins none."""
    definitions = [read_definition(path) for path in sorted(folder.glob("*.yaml"))]
    pinned = [definition for definition in definitions if definition.slug == GENERIC_SLUG]
    own = [definition for definition in definitions if definition.slug != GENERIC_SLUG]
    kit_versions = shared_versions(GENERIC_SLUG)
    generic = max(pinned, key=lambda definition: definition.version) if pinned else kit_versions[-1]
    others = [d for d in [*pinned, *kit_versions] if (d.slug, d.version) != (generic.slug, generic.version)]
    for path in sorted(folder.glob("*.yaml")):
        others += _earlier_versions(path)
    children: dict[str, ProcessDefinition] = {}
    for definition in own:
        if definition.opened_by_parent:
            raise DefinitionError(f"{definition.origin}: a service's definition is started on its own")
        for opens in definition.opens():
            if opens.definition not in children:
                children[opens.definition] = _child_definition(definition, opens)
            _check_child_fields(definition, opens, children[opens.definition])
    return ProcessBook(own, generic, others, list(children.values()))


def _earlier_versions(path: Path) -> list[ProcessDefinition]:
    """A body that extends ``<name>@N`` on each earlier version kit keeps of ``<name>``: the
    versions its cases may have started under before the office moved its pin."""
    raw = yaml.safe_load(path.read_text("utf-8"))
    match = PINNED.match(str(raw.get("extends", ""))) if isinstance(raw, dict) and "version" not in raw else None
    if match is None:
        return []
    earlier = []
    for shared in sorted(SHARED.glob(f"{match[1]}@*.yaml")):
        version = int(shared.stem.split("@")[1])
        if version < int(match[2]):
            try:
                earlier.append(read_definition(path, pin=f"{match[1]}@{version}"))
            except DefinitionError:
                continue  # the body needs the newer version: no case can have started under this one
    return earlier


def _child_definition(parent: ProcessDefinition, opens: Children) -> ProcessDefinition:
    path = SHARED / f"{opens.definition}.yaml"
    if not path.is_file():
        raise DefinitionError(f"{parent.origin}: opens {opens.definition!r}: no such shared definition")
    child = read_definition(path)
    if not child.opened_by_parent:
        raise DefinitionError(f"{parent.origin}: opens {opens.definition!r}, which is not opened by a parent")
    return child


def _check_child_fields(parent: ProcessDefinition, opens: Children, child: ProcessDefinition) -> None:
    for field in [*opens.copies, opens.code_field, opens.number_field]:
        if field and field not in child.fields:
            raise DefinitionError(f"{parent.origin}: opens {child.slug!r}: it has no field {field!r}")
