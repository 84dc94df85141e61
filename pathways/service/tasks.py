"""Handlers for who holds a staff task: claiming it, and a navigator reassigning it."""

from __future__ import annotations

from pathways.service.commands import ClaimTask, ReassignTask
from pathways.service.context import Context
from pathways.store.staff_tasks import claim_task, reassign_task
from pathways.store.tables import StaffTask


def claim(command: ClaimTask, context: Context) -> StaffTask:
    """The task becomes in progress with its assignee (audited as the actor)."""
    with context.unit_of_work() as uow:
        task = claim_task(uow, command.task_id, command.assignee, context.clock(), command.actor)
        uow.commit()
    return task


def reassign(command: ReassignTask, context: Context) -> StaffTask:
    """The task goes to another person, or back to its role's queue (audited, with why)."""
    with context.unit_of_work() as uow:
        task = reassign_task(
            uow, command.task_id, command.assignee, command.actor, command.reason, context.clock()
        )
        uow.commit()
    return task
