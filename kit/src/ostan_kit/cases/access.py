"""Who may see a case and in which role an actor may take an action."""

from __future__ import annotations

from ostan_kit.persistence.models import CaseRow
from ostan_kit.processes.definitions import Action, ProcessDefinition
from ostan_kit.runtime.errors import Conflict, FailedPrecondition, PermissionDenied
from ostan_kit.security.actors import APPLICANT, Actor


class Access:
    """The rules of one service: citizens act on their own cases as the applicant; staff act in
    their own office, in a role the action allows."""

    def __init__(self, offices: set[str]) -> None:
        self.offices = offices

    def acting_role(self, actor: Actor, case: CaseRow | None, allowed: list[str]) -> str | None:
        if actor.kind == "citizen":
            if APPLICANT in allowed and (case is None or case.applicant_id == actor.subject):
                return APPLICANT
            return None
        if actor.kind == "staff" and actor.office in self.offices and (case is None or case.office == actor.office):
            roles = sorted(set(allowed) & actor.roles - {APPLICANT})
            return roles[0] if roles else None
        return None

    def action_role(self, actor: Actor, case: CaseRow, definition: ProcessDefinition, action: Action) -> str | None:
        """The role in which ``actor`` may take ``action`` on ``case``; a role that stands for a
        form field (a resolution's owner) is the role the case's field names."""
        return self.acting_role(actor, case, definition.actual_roles(action.roles, case.data))

    def role(self, actor: Actor, case: CaseRow, definition: ProcessDefinition, action: Action) -> str:
        return self.action_role(actor, case, definition, action) or ""

    def may_see(self, actor: Actor, case: CaseRow) -> bool:
        if actor.kind == "citizen":
            return case.applicant_id == actor.subject
        return actor.kind == "staff" and case.office == actor.office

    def allowed_action(self, actor: Actor, case: CaseRow, definition: ProcessDefinition, name: str) -> Action:
        action = definition.action(name)
        possible = [a.name for a in definition.actions_from(case.state) if self.action_role(actor, case, definition, a)]
        if action is None or case.state not in action.from_states:
            raise FailedPrecondition(
                f"{name!r} is not allowed in state {case.state!r}; allowed now: {', '.join(possible) or 'none'}",
                reason="ACTION_NOT_ALLOWED",
                metadata={"state": case.state, "allowed_actions": ",".join(possible)},
            )
        if self.action_role(actor, case, definition, action) is None:
            raise PermissionDenied(f"{name!r} takes one of the roles {action.roles}")
        return action


def stale(case: CaseRow) -> Conflict:
    return Conflict(
        f"the case has changed (now version {case.version}): read it again",
        reason="STALE_VERSION",
        metadata={"current_version": str(case.version)},
    )
