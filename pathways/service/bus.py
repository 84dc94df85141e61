"""The bus: each command's one handler, and the service that runs them.

`HANDLERS` names the handler of every command in pathways/service/commands.py; importing
this module checks that none is missing, so a new command cannot be left unhandled (the
API, the workers and the tests all refuse to start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from sqlalchemy import Engine

from pathways.service import (
    access,
    applying,
    enrolment,
    publishing,
    recording,
    sweeps,
    tasks,
    webhooks,
)
from pathways.service import commands as c
from pathways.service.context import Clock, Context
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

R = TypeVar("R")
Handler = Callable[[Any, Context], Any]

HANDLERS: dict[type[c.Command[Any]], Handler] = {
    c.RegisterPatient: enrolment.register,
    c.Enrol: enrolment.enrol_patient,
    c.RecordEvent: recording.record,
    c.CompleteTask: recording.complete,
    c.SkipTask: recording.skip,
    c.ApplyEvents: applying.apply,
    c.RetryEvent: applying.retry,
    c.RejectEvent: applying.reject,
    c.ClaimTask: tasks.claim,
    c.ReassignTask: tasks.reassign,
    c.FireDueTimers: sweeps.fire_timers,
    c.RequeueLostEvents: sweeps.requeue_lost,
    c.EscalateOverdueTasks: sweeps.escalate,
    c.RefreshProjections: sweeps.refresh,
    c.RefreshDashboardSummary: sweeps.summarise,
    c.DispatchOutbox: webhooks.dispatch,
    c.DeliverWebhooks: webhooks.deliver,
    c.PublishDefinition: publishing.publish_one,
    c.PublishLibrary: publishing.publish_library,
    c.IssueToken: access.issue,
    c.RevokeToken: access.revoke,
    c.RecordPatientReads: access.record_patient_reads,
    c.Subscribe: webhooks.add_subscription,
    c.SetSubscriptionActive: webhooks.activate,
    c.RemoveSubscription: webhooks.remove_subscription,
    c.RetryDeliveries: webhooks.retry_deliveries,
}


class UnhandledCommand(Exception):
    """A command with no handler: a programming error, found at import."""


def unhandled() -> set[type[c.Command[Any]]]:
    """Commands no handler is named for (empty, or the bus refuses to load)."""
    return set(c.all_commands()) - set(HANDLERS)


class Service(Context):
    """Runs commands: `service.handle(Enrol(...))` is the whole write API of carepath."""

    @classmethod
    def on(cls, engine: Engine, **given: Any) -> Service:
        """A service over a database engine: each unit of work a new session on it."""
        return cls(lambda: SqlAlchemyUnitOfWork(engine), **given)

    def at(self, clock: Clock) -> Service:
        """The same service reading another clock (the demo replays a course's past)."""
        return replace(self, clock=clock)

    def handle(self, command: c.Command[R]) -> R:
        """Run the command's one handler; what it answers is typed by the command."""
        return cast(R, HANDLERS[type(command)](command, self))


if unhandled():
    raise UnhandledCommand(
        "commands without a handler: " + ", ".join(sorted(k.__name__ for k in unhandled()))
    )
