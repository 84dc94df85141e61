"""What the soak did and saw along the way: to the processes, over HTTP, and in replay."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Chaos:
    """What the soak did to the processes."""

    worker_kills: int = 0
    worker_exits: int = 0  # workers found dead that the soak had not killed
    redis_restarts: int = 0
    beat_restarts: int = 0
    api_deadlocks: int = 0  # read from the API's log at the end


@dataclass
class Driven:
    """What the driver sent over HTTP."""

    enrollments: int = 0
    enrol_failures: int = 0
    accepted: set[int] = field(default_factory=set)  # event ids answered 202
    refused: int = 0  # 4xx answers: the API said no, nothing stored
    server_errors: int = 0  # 5xx answers (each post sent again with the same key)
    connection_errors: int = 0  # no answer (sent again with the same key)
    given_up: int = 0  # posts abandoned after every retry failed
    holds: dict[str, tuple[str, int]] = field(default_factory=dict)  # last hold/resume sent


@dataclass
class Replay:
    """`carepath replay --all --verify` over every enrollment."""

    passed: bool
    enrollments: int
    differ: int
    summary: str
    samples: list[str] = field(default_factory=list)  # differing enrollments, first difference
