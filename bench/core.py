"""1. Core: the chemotherapy pathway to completion in process, carepath beside SpiffWorkflow.

Both engines run the same workload: the shipped `definitions/chemotherapy.yaml` (6 cycles of
21 days) for carepath, and its hand-written BPMN twin `bench/bpmn/chemotherapy.bpmn` for
SpiffWorkflow. Every patient is driven to completion by a small driver that completes each
open user task with typical recorded values (normal counts) and, when no task is open, moves
the clock to the earliest pending timer and fires it. Every 10th patient has a low ANC before
cycle 3, so that cycle waits the one-week dose delay and the labs are repeated.

Each engine runs in memory and with per-step JSON serialisation (carepath: `json.dumps` of
the enrollment state after enrolment and after every `step`; SpiffWorkflow: its own
`BpmnWorkflowSerializer.serialize_json` after enrolment and after every completed task or
fired timer). The four measurements of one repeat run back to back, so the ratios compare
figures taken under the same machine conditions. Every run checks that each patient
completed and that exactly the delayed patients took the delay path: a benchmark of a
broken run is worthless.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.results import Row, Section, Target, fmt
from pathways.library import load
from pathways.runtime.definition import Definition, load_definition
from pathways.runtime.effects import CancelTask, CancelTimer, CreateTask, Effect, ScheduleTimer
from pathways.runtime.engine import start, step
from pathways.runtime.events import Enrolled, Event, TaskCompleted, TimerFired
from pathways.runtime.state import State

TITLE = "1. Core: chemotherapy to completion, in process"
ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
BPMN = Path(__file__).resolve().parent / "bpmn" / "chemotherapy.bpmn"

# The workload: sizes per mode, and what every patient records.
QUICK_PATIENTS, QUICK_SPIFF_PATIENTS, QUICK_RUNS = 200, 60, 5
FULL_PATIENTS, FULL_RUNS = 1000, 7
WARM_UP_PATIENTS = 10  # untimed, per engine: imports, holiday tables, caches
CYCLES = 6  # the definition's default, stated here to check the runs against
DELAY_EVERY = 10  # every 10th patient (the 10th, 20th, ...) has a low ANC once
LOW_CYCLE = 3  # the cycle whose pre-cycle labs come back low for those patients
FIRST_ENROLMENT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in Toronto
NORMAL_COUNTS = {"anc": 2300, "platelets": 210000}
LOW_ANC = {"anc": 1100, "platelets": 160000}  # anc < anc_min (1500): delay one week
RESPONSE = {"response": "partial_response"}
TARGET_IN_MEMORY, TARGET_PERSISTED = 20.0, 50.0
# The YAML parameters the BPMN model reads from its process data.
SPIFF_PARAMETERS = (
    "cycles",
    "cycle_length",
    "needs_port",
    "anc_min",
    "platelets_min",
    "delay_length",
    "include_followup",
    "followup_interval",
)


class BrokenRun(RuntimeError):
    """A benchmark run that did not do the workload: its timings would mean nothing."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BrokenRun(message)


def delayed(patient: int) -> bool:
    """Whether patient `patient` (0-based) is a 10th patient, with a low ANC at LOW_CYCLE."""
    return (patient + 1) % DELAY_EVERY == 0


def enrolled_at(patient: int) -> datetime:
    """Patients enrol an hour apart, so no two share a calendar position (no cache helps)."""
    return FIRST_ENROLMENT + timedelta(hours=patient)


def recorded(step_id: str, labs_so_far: int, patient: int) -> dict[str, Any]:
    """What staff record when completing a task; `labs_so_far` counts earlier pre-cycle labs."""
    if step_id == "pre_cycle_labs":
        low = delayed(patient) and labs_so_far + 1 == LOW_CYCLE
        return dict(LOW_ANC if low else NORMAL_COUNTS)
    if step_id == "baseline_labs":
        return dict(NORMAL_COUNTS)
    if step_id == "response_imaging":
        return dict(RESPONSE)
    return {}


@dataclass
class Tally:
    """What one run of N patients did and how long it took."""

    patients: int = 0
    cpu_seconds: float = 0.0  # this process's CPU time for the whole run (one thread)
    transitions: int = 0  # carepath: `step` calls; SpiffWorkflow: tasks completed + timers fired
    engine_seconds: float = 0.0  # carepath, wall: inside `step` (and json.dumps if persisting)
    start_seconds: float = 0.0  # carepath, wall: inside `start` (and json.dumps if persisting)
    saves: int = 0
    saved_chars: int = 0  # ASCII JSON (ensure_ascii), so characters are bytes

    @property
    def per_second(self) -> float:
        """Patients run to completion per CPU second of the whole run."""
        return self.patients / self.cpu_seconds

    @property
    def bytes_per_save(self) -> float:
        """Mean size of one serialised state."""
        return self.saved_chars / self.saves


# -- carepath ------------------------------------------------------------------------------


def chemotherapy() -> Definition:
    """The shipped chemotherapy definition, compiled as the product does."""
    library = load([DEFINITIONS])
    definition = load_definition(library, "chemotherapy")
    cycles = definition.pathway.parameters["cycles"].default
    _check(cycles == CYCLES, f"chemotherapy.yaml defaults to {cycles} cycles, not {CYCLES}")
    return definition


def run_carepath(definition: Definition, patients: int, persist: bool) -> Tally:
    """Patients 0..N-1 to completion; with `persist`, json.dumps of the state after each call."""
    tally = Tally(patients=patients)
    began = time.process_time()
    for patient in range(patients):
        _carepath_patient(definition, patient, persist, tally)
    tally.cpu_seconds = time.process_time() - began
    return tally


def _carepath_patient(definition: Definition, patient: int, persist: bool, tally: Tally) -> None:
    clock = time.perf_counter
    now = enrolled_at(patient)
    before = clock()
    state, effects = start(definition, Enrolled(), now)
    if persist:
        tally.saved_chars += len(json.dumps(state))
        tally.saves += 1
    tally.start_seconds += clock() - before
    tasks: dict[str, str] = {}  # open task id -> step id, oldest first
    timers: dict[str, tuple[datetime, str]] = {}  # pending timer id -> (due, step id)
    labs = delays = 0
    while True:
        _absorb(effects, tasks, timers)
        if state["status"] != "active":
            break
        event: Event
        if tasks:
            task_id = next(iter(tasks))
            step_id = tasks.pop(task_id)
            event = TaskCompleted(task_id, recorded(step_id, labs, patient))
            labs += step_id == "pre_cycle_labs"
        else:
            _check(bool(timers), f"carepath patient {patient}: nothing open, nothing pending")
            timer_id = min(timers, key=lambda ident: timers[ident][0])
            due, step_id = timers.pop(timer_id)
            now = max(now, due)  # the clock moves to the timer's due time
            event = TimerFired(timer_id)
            delays += step_id == "dose_delay"
        before = clock()
        state, effects = step(definition, state, event, now)
        if persist:
            tally.saved_chars += len(json.dumps(state))
            tally.saves += 1
        tally.engine_seconds += clock() - before
        tally.transitions += 1
    _check_carepath(state, patient, labs, delays)


def _absorb(
    effects: list[Effect], tasks: dict[str, str], timers: dict[str, tuple[datetime, str]]
) -> None:
    for effect in effects:
        if isinstance(effect, CreateTask):
            tasks[effect.task] = effect.step
        elif isinstance(effect, ScheduleTimer):
            timers[effect.timer] = (effect.due, effect.step)
        elif isinstance(effect, CancelTask):
            tasks.pop(effect.task, None)
        elif isinstance(effect, CancelTimer):
            timers.pop(effect.timer, None)


def _check_carepath(state: State, patient: int, labs: int, delays: int) -> None:
    done = state["frame"]["done"]
    expected = (CYCLES + 1, 1) if delayed(patient) else (CYCLES, 0)
    _check(
        (state["status"], state["outcome"]) == ("completed", "completed"),
        f"carepath patient {patient} ended {state['status']} ({state['outcome']})",
    )
    _check(
        (labs, delays) == expected
        and (done.get("pre_cycle_labs", 0), done.get("dose_delay", 0)) == expected
        and done.get("infusion") == CYCLES,
        f"carepath patient {patient}: {labs} labs, {delays} dose delays, done {done}; "
        f"expected {expected} and {CYCLES} infusions",
    )


# -- SpiffWorkflow ---------------------------------------------------------------------------


class _Clock:
    """The simulated now SpiffWorkflow's timer events read (they call datetime.now)."""

    moment = FIRST_ENROLMENT


class _SimulatedDatetime(datetime):
    """datetime whose now() is the simulated clock; everything else is the real datetime."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:  # Any: returns the base datetime class
        moment = _Clock.moment
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


@contextmanager
def simulated_time() -> Iterator[None]:
    """SpiffWorkflow's timer events compute their due time and compare it with the
    `datetime.now(timezone.utc)` of their module; point that name at the simulated clock for
    the run, so the timers really wait and really fire when the driver moves the clock."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer  # type: ignore[import-untyped]

    real = timer.datetime
    timer.datetime = _SimulatedDatetime
    try:
        yield
    finally:
        timer.datetime = real


@dataclass(frozen=True)
class SpiffPathway:
    """The parsed BPMN process, the serializer, and the parameters every patient starts with."""

    spec: Any
    serializer: Any
    parameters: dict[str, Any]


def spiff_chemotherapy(definition: Definition) -> SpiffPathway:
    """Parse (and validate against the BPMN 2.0 schema) the BPMN twin of chemotherapy.yaml.

    The process data starts with the YAML's parameter defaults, so both engines decide with
    the same thresholds and wait the same durations."""
    from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator  # type: ignore[import-untyped]
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # type: ignore[import-untyped]

    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(BPMN))
    defaults = definition.pathway.parameters
    parameters: dict[str, Any] = {name: defaults[name].default for name in SPIFF_PARAMETERS}
    parameters["cycle"] = 0
    return SpiffPathway(parser.get_spec("chemotherapy"), BpmnWorkflowSerializer(), parameters)


def run_spiff(pathway: SpiffPathway, patients: int, persist: bool) -> Tally:
    """Patients 0..N-1 to completion in SpiffWorkflow; with `persist`, serialise every step."""
    tally = Tally(patients=patients)
    with simulated_time():
        began = time.process_time()
        for patient in range(patients):
            _spiff_patient(pathway, patient, persist, tally)
        tally.cpu_seconds = time.process_time() - began
    return tally


def _spiff_patient(pathway: SpiffPathway, patient: int, persist: bool, tally: Tally) -> None:
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # type: ignore[import-untyped]
    from SpiffWorkflow.util.task import TaskState  # type: ignore[import-untyped]

    _Clock.moment = enrolled_at(patient)
    workflow = BpmnWorkflow(pathway.spec)
    workflow.get_next_task(state=TaskState.READY).data.update(pathway.parameters)
    workflow.do_engine_steps()
    if persist:
        _spiff_save(pathway, workflow, tally)
    labs = advances = 0
    while True:
        ready = workflow.get_next_task(state=TaskState.READY, manual=True)
        if ready is not None:
            step_id = ready.task_spec.bpmn_id
            ready.data.update(recorded(step_id, labs, patient))
            labs += step_id == "pre_cycle_labs"
            ready.run()
        elif workflow.is_completed():
            break
        else:
            waiting = workflow.waiting_events()
            _check(bool(waiting), f"SpiffWorkflow patient {patient}: nothing ready or waiting")
            due = min(datetime.fromisoformat(event.value) for event in waiting)
            # Timers fire once now > due (strictly): move the clock just past the due time.
            _Clock.moment = max(_Clock.moment, due + timedelta(microseconds=1))
            advances += 1
            workflow.refresh_timers()
        workflow.do_engine_steps()
        if persist:
            _spiff_save(pathway, workflow, tally)
        tally.transitions += 1
    _check_spiff(workflow, patient, labs, advances, TaskState)


def _spiff_save(pathway: SpiffPathway, workflow: Any, tally: Tally) -> None:
    tally.saved_chars += len(pathway.serializer.serialize_json(workflow))
    tally.saves += 1


def _check_spiff(workflow: Any, patient: int, labs: int, advances: int, states: Any) -> None:
    done: dict[str, int] = {}
    for task in workflow.get_tasks(state=states.COMPLETED):
        done[task.task_spec.bpmn_id] = done.get(task.task_spec.bpmn_id, 0) + 1
    timers = (CYCLES + 2, 1) if delayed(patient) else (CYCLES + 1, 0)  # rests, follow-up, delay
    _check(
        done.get("chemotherapy_complete") == 1 and "progressed" not in done,
        f"SpiffWorkflow patient {patient} did not reach chemotherapy_complete: {done}",
    )
    fired = done.get("rest", 0) + done.get("until_followup", 0) + done.get("dose_delay", 0)
    _check(
        (labs, done.get("pre_cycle_labs"), done.get("infusion"))
        == (CYCLES + timers[1], CYCLES + timers[1], CYCLES)
        and (advances, fired, done.get("dose_delay", 0)) == (timers[0], timers[0], timers[1]),
        f"SpiffWorkflow patient {patient}: {labs} labs, {advances} clock moves, done {done}",
    )
    # The waits really elapsed on the simulated clock: 6 x 21 days (+ 7), then 3 months.
    weeks = CYCLES * 3 + timers[1]
    elapsed = _Clock.moment - enrolled_at(patient)
    _check(
        elapsed >= timedelta(weeks=weeks, days=89),
        f"SpiffWorkflow patient {patient}: only {elapsed} passed on the simulated clock",
    )


# -- the section --------------------------------------------------------------------------------


def run(quick: bool) -> list[Section]:
    """Measure both engines in memory and persisting every step; the section with targets."""
    patients = QUICK_PATIENTS if quick else FULL_PATIENTS
    spiff_patients = QUICK_SPIFF_PATIENTS if quick else FULL_PATIENTS
    repeats = QUICK_RUNS if quick else FULL_RUNS
    definition = chemotherapy()
    pathway = spiff_chemotherapy(definition)
    run_carepath(definition, WARM_UP_PATIENTS, persist=True)
    run_spiff(pathway, WARM_UP_PATIENTS, persist=True)

    runs: dict[str, list[Tally]] = {"cp": [], "cp_json": [], "spiff": [], "spiff_json": []}
    for _ in range(repeats):
        runs["cp"].append(run_carepath(definition, patients, persist=False))
        runs["cp_json"].append(run_carepath(definition, patients, persist=True))
        runs["spiff"].append(run_spiff(pathway, spiff_patients, persist=False))
        runs["spiff_json"].append(run_spiff(pathway, spiff_patients, persist=True))

    def rates(key: str) -> tuple[float, ...]:
        return tuple(tally.per_second for tally in runs[key])

    carepath = Row("carepath, in memory", "patients/s", rates("cp"))
    carepath_json = Row(
        "carepath, json.dumps of the state after every step", "patients/s", rates("cp_json")
    )
    spiff = Row("SpiffWorkflow 3, in memory", "patients/s", rates("spiff"))
    spiff_json = Row(
        "SpiffWorkflow 3, serialize_json after every step", "patients/s", rates("spiff_json")
    )
    rows = [
        carepath,
        carepath_json,
        spiff,
        spiff_json,
        Row(
            "carepath enrollments (start, incl. projected end)",
            "enrollments/s",
            tuple(tally.patients / tally.start_seconds for tally in runs["cp"]),
            "in memory; wall time inside start only",
        ),
        Row(
            "carepath transitions (step), in memory",
            "transitions/s",
            tuple(tally.transitions / tally.engine_seconds for tally in runs["cp"]),
            f"{runs['cp'][0].transitions / patients:.1f} per patient; wall time inside step only",
        ),
        Row(
            "carepath transitions (step + json.dumps)",
            "transitions/s",
            tuple(tally.transitions / tally.engine_seconds for tally in runs["cp_json"]),
            "wall time inside step and json.dumps only",
        ),
        Row(
            "carepath state, JSON per save (mean)",
            "bytes",
            tuple(tally.bytes_per_save for tally in runs["cp_json"]),
        ),
        Row(
            "SpiffWorkflow workflow, JSON per save (mean)",
            "bytes",
            tuple(tally.bytes_per_save for tally in runs["spiff_json"]),
            "serializer's default: includes the process spec",
        ),
    ]
    in_memory = carepath.median / spiff.median
    persisted = carepath_json.median / spiff_json.median
    targets = [
        Target(
            f">= {TARGET_IN_MEMORY:.0f}x SpiffWorkflow in memory",
            f"{fmt(in_memory)}x",
            in_memory >= TARGET_IN_MEMORY,
        ),
        Target(
            f">= {TARGET_PERSISTED:.0f}x SpiffWorkflow with per-step JSON serialisation",
            f"{fmt(persisted)}x",
            persisted >= TARGET_PERSISTED,
        ),
    ]
    setup = (
        f"definitions/chemotherapy.yaml as shipped ({CYCLES} cycles of 21 days) and its BPMN "
        f"twin bench/bpmn/chemotherapy.bpmn in SpiffWorkflow {version('SpiffWorkflow')}; "
        f"{patients:,} carepath and "
        f"{spiff_patients:,} SpiffWorkflow patients per run, {repeats} runs of each, "
        f"interleaved; one process, one thread. Patients/s are per CPU second of the run "
        f"(time.process_time: steadier than wall time on a shared machine, and the same on an "
        f"idle one, as nothing waits on I/O). Each patient is driven to completion: open "
        f"tasks completed with normal counts, timers fired by moving the clock to their due "
        f"time (SpiffWorkflow's timer events read a simulated datetime.now); every "
        f"{DELAY_EVERY}th patient has a low ANC before cycle {LOW_CYCLE} and waits the one-week "
        f"dose delay. A transition is one engine `step` call applying one event (a task "
        f"completed or a timer fired). Per-step serialisation: json.dumps of the carepath "
        f"state, BpmnWorkflowSerializer.serialize_json of the SpiffWorkflow workflow, after "
        f"enrolment and after every step. Every run checks that all patients completed and "
        f"that exactly the delayed ones took the delay path."
    )
    return [Section(TITLE, setup, rows, targets)]
