"""The trail of reads: one `patient_read` audit row per patient a response showed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session

from pathways.store.tables import AuditLog


def record_reads(
    session: Session, actor: str, patient_ids: Iterable[str], via: str, now: datetime
) -> None:
    """Audit that `actor` was shown these patients via `via` (ids only), in one INSERT."""
    rows = [
        {
            "actor": actor,
            "action": "patient_read",
            "target_type": "patient",
            "target_id": patient_id,
            "at": now,
            "reason": None,
            "detail": {"via": via},  # the path holds ids only; the query (a search) is left out
        }
        for patient_id in sorted(set(patient_ids))
    ]
    if rows:
        session.execute(insert(AuditLog).values(rows))
