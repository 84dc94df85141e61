"""Every write carepath makes, as a command: a small frozen value named in the imperative.

Each command has exactly one handler (pathways/service/), which opens the unit of work, reads
the one clock, makes the change through the store and commits once; whatever must follow the
commit (a message to a worker) is sent after it. Routes, the command line, the workers, the
demo and the benchmarks build commands; none of them opens a transaction of its own.

A command carries ids and values, never rows, and says who asks (`actor`, for the audit log).
`Command[R]` names what its handler answers with, so `service.handle(command)` is typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pathways.store.applying import Applied
from pathways.store.summary import Summary
from pathways.store.tables import (
    ApiToken,
    Enrollment,
    PathwayDefinition,
    PathwayEvent,
    Patient,
    StaffTask,
    WebhookDelivery,
    WebhookSubscription,
)
from pathways.store.webhooks import BATCH, DeliveryReport

R = TypeVar("R")
SYSTEM = "carepath"  # the actor of what the system does by itself (timers, sweeps)


@dataclass(frozen=True, kw_only=True)
class Command(Generic[R]):
    """A write to be made; R is what its handler answers with."""

    actor: str = SYSTEM


@dataclass(frozen=True)
class Registered:
    """The patient with that MRN, and whether this command registered them."""

    patient: Patient
    created: bool


@dataclass(frozen=True)
class Enrolled:
    """The enrollment the key names, and whether this command made it."""

    enrollment: Enrollment
    created: bool


@dataclass(frozen=True)
class Accepted:
    """The stored event, and whether this command stored it (a retry finds the first)."""

    event: PathwayEvent
    created: bool

    @property
    def event_id(self) -> int:
        """The stored event's id (stored events always have one)."""
        assert self.event.id is not None
        return self.event.id


@dataclass(frozen=True)
class Published:
    """The stored definition, and whether this command published it."""

    definition: PathwayDefinition
    created: bool


# Patients and enrolment -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegisterPatient(Command[Registered]):
    """Register a patient by MRN; an MRN already registered gives that patient back."""

    mrn: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class Enrol(Command[Enrolled]):
    """Enrol a patient on a pathway (its latest version unless one is named).

    The same idempotency key again gives the enrollment it made; with another patient or
    pathway it is refused (IdempotencyConflict)."""

    patient_id: str
    pathway: str
    version: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    patient: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str


# Events: recorded by people and systems, applied by a worker ------------------------------


@dataclass(frozen=True, kw_only=True)
class RecordEvent(Command[Accepted]):
    """Record an event for an enrollment (a hold, a lab result...) for a worker to apply.

    `from_person`: only events the pathway takes from people, with its declared data."""

    enrollment_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str
    from_person: bool = True


@dataclass(frozen=True, kw_only=True)
class CompleteTask(Command[Accepted]):
    """Record a staff task done, with the values it asks for, for a worker to apply."""

    task_id: str
    data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class SkipTask(Command[Accepted]):
    """Record that a staff task is skipped, and why, for a worker to apply."""

    task_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ApplyEvents(Command[Applied]):
    """Apply an event and the earlier ones of its enrollment, in recording order.

    With a backlog of queued messages the same commit also applies other enrollments'
    ready events (group commit). `backlog` None asks the context's queue probe, and only
    when the event still needs applying (a settled event's message costs no probe)."""

    event_id: int
    backlog: int | None = None


@dataclass(frozen=True, kw_only=True)
class RetryEvent(Command[int]):
    """Put a quarantined event back in line, once its cause is fixed (an administrator)."""

    event_id: int


@dataclass(frozen=True, kw_only=True)
class RejectEvent(Command[int | None]):
    """End a quarantined event unapplied, so the events behind it go on (an administrator)."""

    event_id: int
    reason: str


# Staff work ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClaimTask(Command[StaffTask]):
    """Take a ready task: it becomes in progress with an assignee."""

    task_id: str
    assignee: str


@dataclass(frozen=True, kw_only=True)
class ReassignTask(Command[StaffTask]):
    """Give a task to someone else, or back to its role's queue (assignee None)."""

    task_id: str
    assignee: str | None
    reason: str


# What beat runs -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FireDueTimers(Command[int]):
    """Turn due timers into events, then ask a worker to apply each."""


@dataclass(frozen=True, kw_only=True)
class RequeueLostEvents(Command[int]):
    """Ask again for events recorded a while ago and still unapplied (a lost message)."""


@dataclass(frozen=True, kw_only=True)
class EscalateOverdueTasks(Command[int]):
    """Tell the navigator of tasks past due, and flag their enrollments (once per task)."""


@dataclass(frozen=True, kw_only=True)
class RefreshProjections(Command[int]):
    """Project the courses whose projection lags their state (outside the apply lock)."""

    limit: int = 200


@dataclass(frozen=True, kw_only=True)
class RefreshDashboardSummary(Command[Summary]):
    """Compute the dashboard's figures and store them, for GET /dashboard to read."""


@dataclass(frozen=True, kw_only=True)
class DispatchOutbox(Command[int]):
    """Fan new outbox messages out into one delivery per matching webhook subscriber."""


@dataclass(frozen=True, kw_only=True)
class DeliverWebhooks(Command[DeliveryReport]):
    """Post the due webhook deliveries, each in its own short claim and outcome."""

    limit: int = BATCH
    attempts_allowed: int | None = None  # None: the context's (CAREPATH_WEBHOOK_MAX_ATTEMPTS)


# Definitions --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PublishDefinition(Command[Published]):
    """Publish one pathway version or calendar from its YAML text (the same text: no-op)."""

    text: str
    source: str = "<posted>"


@dataclass(frozen=True, kw_only=True)
class PublishLibrary(Command[list[PathwayDefinition]]):
    """Publish every definition in these files and directories, in one commit."""

    paths: tuple[str, ...]


# Access -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IssueToken(Command[str]):
    """Issue a bearer token for a role; the token is answered once, only its hash is kept."""

    role: str
    holder: str
    days: int = 90


@dataclass(frozen=True, kw_only=True)
class RevokeToken(Command[ApiToken | None]):
    """Revoke a token by id; it is refused from then on."""

    token_id: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordPatientReads(Command[None]):
    """Audit that `actor` was shown these patients (every read of patient data)."""

    patient_ids: tuple[str, ...]
    via: str


# Webhook subscriptions ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Subscribe(Command[WebhookSubscription]):
    """Subscribe a receiver to signed notifications (its secret, or a new one)."""

    url: str
    secret: str | None = None
    role: str | None = None
    event_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class SetSubscriptionActive(Command[None]):
    """Enable or disable posting to a subscription."""

    subscription_id: int
    active: bool


@dataclass(frozen=True, kw_only=True)
class RemoveSubscription(Command[dict[str, int]]):
    """Delete a subscription and its deliveries (their counts kept in the audit log)."""

    subscription_id: int


@dataclass(frozen=True, kw_only=True)
class RetryDeliveries(Command[list[WebhookDelivery]]):
    """Give dead webhook deliveries a fresh round of attempts, all or none."""

    delivery_ids: tuple[int, ...]


def all_commands() -> tuple[type[Command[Any]], ...]:
    """Every command class: the handler registry must name each exactly once."""
    return tuple(Command.__subclasses__())
