"""Handlers for who may call the API, and the trail of who was shown which patient."""

from __future__ import annotations

from datetime import timedelta

from pathways.service.commands import IssueToken, RecordPatientReads, RevokeToken
from pathways.service.context import Context
from pathways.store.read_trail import record_reads
from pathways.store.tables import ApiToken
from pathways.store.tokens import issue_token, revoke_token


def issue(command: IssueToken, context: Context) -> str:
    """A new bearer token for a role, answered once; only its hash is kept (audited)."""
    with context.unit_of_work() as uow:
        token = issue_token(
            uow.session,
            command.role,
            command.holder,
            context.clock(),
            timedelta(days=command.days),
            by=command.actor,
        )
        uow.commit()
    return token


def revoke(command: RevokeToken, context: Context) -> ApiToken | None:
    """Refuse a token from now on (audited); None when there is no such token."""
    with context.unit_of_work() as uow:
        row = revoke_token(
            uow.session, command.token_id, command.actor, command.reason, context.clock()
        )
        uow.commit()
    return row


def record_patient_reads(command: RecordPatientReads, context: Context) -> None:
    """One audit row per patient shown, in one statement and one commit."""
    with context.unit_of_work() as uow:
        record_reads(uow.session, command.actor, command.patient_ids, command.via, context.clock())
        uow.commit()
