"""1. Core: the peer's chemotherapy workload in process, carepath beside SpiffWorkflow.

The workload is exactly the peer benchmark's model, `../shared/peers/chemo.bpmn` (copied to
`bench/bpmn/chemo_peer.bpmn` so the bench runs without it; when the original is beside the
repo, the copy must be byte-identical or the run stops). SpiffWorkflow runs that file;
carepath runs `bench/definitions/chemo_peer.yaml`, the same steps under the same ids and no
more: three baseline tasks in parallel, port placement when `needs_port`, 6 cycles of
pre-cycle labs, a count gate (ANC >= 1,500 and platelets >= 100,000, else a 7-day delay and
the labs again), infusion and a 21-day rest, then response imaging and a follow-up visit.

Patients are numbered from 1; every even patient needs a port, and every 10th has a low ANC
at its 3rd pre-cycle labs (so waits the dose delay once). All patients are enrolled, then
advanced round-robin, one step each (patient 1, patient 2, ... patient N, patient 1, ...),
so all of them are in flight at once, as in the peer harness. A step applies one event: the
patient's oldest open task completed, or, with none open, its earliest timer fired (the
patient's own clock moves to the due time; SpiffWorkflow's timer events read a simulated
`datetime.now`).

Persisted mode does, for every step of both engines, what a service does: load the state,
step, save it (carepath: `json.loads` / `json.dumps` of the state; SpiffWorkflow:
`BpmnWorkflowSerializer.deserialize_json` / `serialize_json`); enrolment saves once. Every run
counts, per patient, the tasks completed and timers fired as each engine recorded them, checks
them against the workload, and checks that both engines did the same per patient: a
benchmark of a broken or unequal run is worthless, so it raises instead.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

TITLE = "1. Core: the peer chemotherapy workload, in process"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BPMN = HERE / "bpmn" / "chemo_peer.bpmn"
PEER_BPMN = ROOT.parent / "shared" / "peers" / "chemo.bpmn"  # beside the repo, as in CI
PROCESS = "chemo_pathway"
DEFINITIONS = (ROOT / "definitions" / "calendars", HERE / "definitions")
PATHWAY = "chemo_peer"

# Sizes per mode: patients in flight (carepath, SpiffWorkflow) and repeats.
QUICK = (1000, 200, 3)
FULL = (1000, 1000, 7)
WARM_UP_PATIENTS = 10  # untimed, per engine and mode: imports, holiday tables, caches
FIRST_ENROLMENT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in Toronto
CYCLES, LOW_CYCLE, DELAY_EVERY = 6, 3, 10
NORMAL_COUNTS = {"anc": 2300, "platelets": 210000}
LOW_ANC = {"anc": 1100, "platelets": 160000}  # anc < 1500: delay one week, labs again
TARGET_IN_MEMORY, TARGET_PERSISTED = 20.0, 50.0
# The tasks and timers of the model, under their BPMN ids (the YAML uses the same ids).
WORK = (
    "baseline_labs",
    "baseline_imaging",
    "medication_review",
    "port_placement",
    "pre_cycle_labs",
    "dose_delay",
    "infusion",
    "rest_period",
    "response_imaging",
    "follow_up_visit",
)


class BrokenRun(RuntimeError):
    """A benchmark run that did not do the workload: its timings would mean nothing."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BrokenRun(message)


def needs_port(number: int) -> bool:
    """Every even patient (numbered from 1) has a port placed."""
    return number % 2 == 0


def delayed(number: int) -> bool:
    """Every 10th patient has a low ANC at its 3rd pre-cycle labs."""
    return number % DELAY_EVERY == 0


def expected_work(number: int) -> Counter[str]:
    """The tasks completed and timers fired that patient `number` must show at the end."""
    delays = int(delayed(number))
    work = Counter({name: 1 for name in WORK})
    work.update(
        {
            "port_placement": int(needs_port(number)) - 1,
            "pre_cycle_labs": CYCLES + delays - 1,
            "dose_delay": delays - 1,
            "infusion": CYCLES - 1,
            "rest_period": CYCLES - 1,
        }
    )
    return +work  # drop the zeros


def enrolled_at(number: int) -> datetime:
    """Patients enrol an hour apart, so no two share a calendar position (no cache helps)."""
    return FIRST_ENROLMENT + timedelta(hours=number - 1)


def recorded(step_id: str, labs_so_far: int, number: int) -> dict[str, Any]:
    """What staff record when completing a task; `labs_so_far` counts earlier pre-cycle labs."""
    if step_id == "pre_cycle_labs":
        low = delayed(number) and labs_so_far + 1 == LOW_CYCLE
        return dict(LOW_ANC if low else NORMAL_COUNTS)
    return {}


@dataclass
class Tally:
    """What one run of N patients did and how long it took."""

    patients: int
    cpu_seconds: float = 0.0  # this process's CPU time for the whole run (one thread)
    steps: int = 0  # events applied after enrolment, all patients
    start_seconds: float = 0.0  # carepath, wall: inside `start` only
    step_seconds: float = 0.0  # carepath, wall: inside load + `step` + save
    saves: int = 0
    saved_chars: int = 0  # ASCII JSON (ensure_ascii), so characters are bytes
    work: dict[int, Counter[str]] = field(default_factory=dict)  # per patient, at the end

    @property
    def per_second(self) -> float:
        """Patients run to completion per CPU second of the whole run."""
        return self.patients / self.cpu_seconds


def _round_robin(patients: list[Any], advance: Any) -> None:
    """Advance each patient in flight by one step in turn until none is left."""
    in_flight = patients
    while in_flight:
        in_flight = [patient for patient in in_flight if advance(patient)]


def _same_file(copy: Path, original: Path) -> None:
    if original.exists():
        _check(
            copy.read_bytes() == original.read_bytes(),
            f"{copy} differs from the peer model {original}: copy it again",
        )


# -- carepath ------------------------------------------------------------------------------


def peer_definition() -> Definition:
    """The bench-only carepath twin of the peer model, compiled as the product does."""
    library = load(list(DEFINITIONS))
    problems = library.report()
    _check(not problems, f"{PATHWAY}.yaml has problems: {problems}")
    return load_definition(library, PATHWAY)


@dataclass
class _CarepathPatient:
    number: int
    now: datetime
    state: State | None = None  # in memory
    saved: str = ""  # persisted: the state as stored
    tasks: dict[str, str] = field(default_factory=dict)  # open task id -> step, oldest first
    timers: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    labs: int = 0
    work: Counter[str] = field(default_factory=Counter)


def run_carepath(definition: Definition, patients: int, persist: bool) -> Tally:
    """Patients 1..N enrolled, then advanced round-robin to completion."""
    tally = Tally(patients)
    clock = time.perf_counter
    began = time.process_time()
    flight = []
    for number in range(1, patients + 1):
        patient = _CarepathPatient(number, enrolled_at(number))
        before = clock()
        state, effects = start(
            definition, Enrolled({"needs_port": needs_port(number)}), patient.now
        )
        tally.start_seconds += clock() - before
        _keep(patient, state, persist, tally)
        _absorb(effects, patient)
        flight.append(patient)

    def advance(patient: _CarepathPatient) -> bool:
        event: Event
        if patient.tasks:
            task_id = next(iter(patient.tasks))
            step_id = patient.tasks.pop(task_id)
            event = TaskCompleted(task_id, recorded(step_id, patient.labs, patient.number))
            patient.labs += step_id == "pre_cycle_labs"
        else:
            _check(bool(patient.timers), f"carepath patient {patient.number}: nothing to do")
            timer_id = min(patient.timers, key=lambda ident: patient.timers[ident][0])
            due, step_id = patient.timers.pop(timer_id)
            patient.now = max(patient.now, due)
            event = TimerFired(timer_id)
        patient.work[step_id] += 1
        before = clock()
        state = json.loads(patient.saved) if persist else patient.state
        assert state is not None
        state, effects = step(definition, state, event, patient.now)
        _keep(patient, state, persist, tally)
        tally.step_seconds += clock() - before
        tally.steps += 1
        _absorb(effects, patient)
        if state["status"] == "active":
            return True
        _check_carepath(state, patient)
        tally.work[patient.number] = patient.work
        return False

    _round_robin(flight, advance)
    tally.cpu_seconds = time.process_time() - began
    return tally


def _keep(patient: _CarepathPatient, state: State, persist: bool, tally: Tally) -> None:
    if persist:
        patient.saved = json.dumps(state)
        tally.saved_chars += len(patient.saved)
        tally.saves += 1
    else:
        patient.state = state


def _absorb(effects: list[Effect], patient: _CarepathPatient) -> None:
    for effect in effects:
        if isinstance(effect, CreateTask):
            patient.tasks[effect.task] = effect.step
        elif isinstance(effect, ScheduleTimer):
            patient.timers[effect.timer] = (effect.due, effect.step)
        elif isinstance(effect, CancelTask):
            patient.tasks.pop(effect.task, None)
        elif isinstance(effect, CancelTimer):
            patient.timers.pop(effect.timer, None)


def _check_carepath(state: State, patient: _CarepathPatient) -> None:
    _check(
        (state["status"], state["outcome"]) == ("completed", "completed"),
        f"carepath patient {patient.number} ended {state['status']} ({state['outcome']})",
    )
    done = Counter({key: state["frame"]["done"].get(key, 0) for key in WORK})
    expected = expected_work(patient.number)
    _check(
        patient.work == expected and +done == expected,
        f"carepath patient {patient.number}: did {dict(patient.work)}, state says "
        f"{dict(done)}; expected {dict(expected)}",
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
    """The parsed peer model (process and its embedded sub-process) and the serializer."""

    spec: Any
    subprocesses: Any
    serializer: Any


def spiff_peer() -> SpiffPathway:
    """Parse (and validate against the BPMN 2.0 schema) the peer model."""
    from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator  # type: ignore[import-untyped]
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # type: ignore[import-untyped]

    _same_file(BPMN, PEER_BPMN)
    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(BPMN))
    return SpiffPathway(
        parser.get_spec(PROCESS), parser.get_subprocess_specs(PROCESS), BpmnWorkflowSerializer()
    )


@dataclass
class _SpiffPatient:
    number: int
    now: datetime
    workflow: Any = None  # in memory
    saved: str = ""  # persisted: the workflow as stored
    labs: int = 0


def run_spiff(pathway: SpiffPathway, patients: int, persist: bool) -> Tally:
    """Patients 1..N started, then advanced round-robin to completion in SpiffWorkflow."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # type: ignore[import-untyped]
    from SpiffWorkflow.util.task import TaskState  # type: ignore[import-untyped]

    tally = Tally(patients)
    serializer = pathway.serializer

    def keep(patient: _SpiffPatient, workflow: Any) -> None:
        if persist:
            patient.saved = serializer.serialize_json(workflow)
            tally.saved_chars += len(patient.saved)
            tally.saves += 1
        else:
            patient.workflow = workflow

    def advance(patient: _SpiffPatient) -> bool:
        _Clock.moment = patient.now
        workflow = serializer.deserialize_json(patient.saved) if persist else patient.workflow
        ready = workflow.get_next_task(state=TaskState.READY, manual=True)
        if ready is not None:
            step_id = ready.task_spec.bpmn_id
            ready.data.update(recorded(step_id, patient.labs, patient.number))
            if step_id == "infusion":
                ready.data["cycle_result"] = "given"  # the model's multi-instance output item
            patient.labs += step_id == "pre_cycle_labs"
            ready.run()
        else:
            waiting = workflow.waiting_events()
            _check(bool(waiting), f"SpiffWorkflow patient {patient.number}: nothing to do")
            due = min(datetime.fromisoformat(event.value) for event in waiting)
            # Timers fire once now > due (strictly): move the clock just past the due time.
            patient.now = _Clock.moment = max(patient.now, due + timedelta(microseconds=1))
            workflow.refresh_timers()
        workflow.do_engine_steps()
        keep(patient, workflow)
        tally.steps += 1
        if not workflow.is_completed():
            return True
        tally.work[patient.number] = _check_spiff(workflow, patient, TaskState)
        return False

    with simulated_time():
        began = time.process_time()
        flight = []
        for number in range(1, patients + 1):
            patient = _SpiffPatient(number, enrolled_at(number))
            _Clock.moment = patient.now
            workflow = BpmnWorkflow(pathway.spec, pathway.subprocesses)
            workflow.get_next_task(state=TaskState.READY).data["needs_port"] = needs_port(number)
            workflow.do_engine_steps()
            keep(patient, workflow)
            flight.append(patient)
        _round_robin(flight, advance)
        tally.cpu_seconds = time.process_time() - began
    return tally


def _check_spiff(workflow: Any, patient: _SpiffPatient, states: Any) -> Counter[str]:
    work: Counter[str] = Counter()
    for task in workflow.get_tasks(state=states.COMPLETED):
        if task.task_spec.bpmn_id in WORK:
            work[task.task_spec.bpmn_id] += 1
    expected = expected_work(patient.number)
    _check(
        work == expected,
        f"SpiffWorkflow patient {patient.number}: did {dict(work)}; expected {dict(expected)}",
    )
    # The waits really elapsed on the simulated clock: 6 x 21 days (+ 7 for a delay).
    elapsed = patient.now - enrolled_at(patient.number)
    weeks = CYCLES * 3 + int(delayed(patient.number))
    _check(
        elapsed >= timedelta(weeks=weeks),
        f"SpiffWorkflow patient {patient.number}: only {elapsed} passed on the simulated clock",
    )
    return work


def same_work(carepath: Tally, spiff: Tally) -> None:
    """Raise unless both engines completed the same tasks and fired the same timers."""
    for number in sorted(spiff.work):
        _check(
            carepath.work.get(number) == spiff.work[number],
            f"patient {number}: carepath did {dict(carepath.work.get(number, {}))}, "
            f"SpiffWorkflow {dict(spiff.work[number])}",
        )
    per_patient = carepath.steps / carepath.patients, spiff.steps / spiff.patients
    _check(
        spiff.patients < carepath.patients or per_patient[0] == per_patient[1],
        f"steps per patient differ: carepath {per_patient[0]}, SpiffWorkflow {per_patient[1]}",
    )


# -- the section --------------------------------------------------------------------------------


def run(quick: bool) -> list[Section]:
    """Measure both engines in memory and persisted per step; the section with targets."""
    patients, spiff_patients, repeats = QUICK if quick else FULL
    definition = peer_definition()
    pathway = spiff_peer()
    for persist in (False, True):
        same_work(
            run_carepath(definition, WARM_UP_PATIENTS, persist),
            run_spiff(pathway, WARM_UP_PATIENTS, persist),
        )

    runs: dict[str, list[Tally]] = {"cp": [], "cp_json": [], "spiff": [], "spiff_json": []}
    for _ in range(repeats):
        runs["cp"].append(run_carepath(definition, patients, persist=False))
        runs["cp_json"].append(run_carepath(definition, patients, persist=True))
        runs["spiff"].append(run_spiff(pathway, spiff_patients, persist=False))
        runs["spiff_json"].append(run_spiff(pathway, spiff_patients, persist=True))
        same_work(runs["cp"][-1], runs["spiff"][-1])
        same_work(runs["cp_json"][-1], runs["spiff_json"][-1])

    def rates(key: str) -> tuple[float, ...]:
        return tuple(tally.per_second for tally in runs[key])

    def ratios(ours: str, theirs: str) -> tuple[float, ...]:
        # Per repeat: the two runs were taken back to back, under the same machine load.
        return tuple(
            a.per_second / b.per_second for a, b in zip(runs[ours], runs[theirs], strict=True)
        )

    in_memory = Row("carepath / SpiffWorkflow, in memory", "x", ratios("cp", "spiff"))
    persisted = Row(
        "carepath / SpiffWorkflow, load + step + save per step",
        "x",
        ratios("cp_json", "spiff_json"),
    )
    steps = runs["cp"][0].steps / patients
    rows = [
        Row("carepath, in memory", "patients/s", rates("cp")),
        Row("carepath, json.loads + step + json.dumps per step", "patients/s", rates("cp_json")),
        Row("SpiffWorkflow 3, in memory", "patients/s", rates("spiff")),
        Row(
            "SpiffWorkflow 3, deserialize_json + step + serialize_json per step",
            "patients/s",
            rates("spiff_json"),
        ),
        in_memory,
        persisted,
        Row(
            "carepath enrollments (start)",
            "enrollments/s",
            tuple(tally.patients / tally.start_seconds for tally in runs["cp"]),
            "in memory; wall time inside start only",
        ),
        Row(
            "carepath steps, in memory",
            "steps/s",
            tuple(tally.steps / tally.step_seconds for tally in runs["cp"]),
            f"{steps:.1f} per patient, as in SpiffWorkflow; wall time inside step only",
        ),
        Row(
            "carepath steps, json.loads + step + json.dumps",
            "steps/s",
            tuple(tally.steps / tally.step_seconds for tally in runs["cp_json"]),
            "wall time inside load, step and save only",
        ),
        Row(
            "carepath state, JSON per save (mean)",
            "bytes",
            tuple(tally.saved_chars / tally.saves for tally in runs["cp_json"]),
        ),
        Row(
            "SpiffWorkflow workflow, JSON per save (mean)",
            "bytes",
            tuple(tally.saved_chars / tally.saves for tally in runs["spiff_json"]),
            "serializer's default: includes the process spec",
        ),
    ]
    targets = [
        Target(
            f">= {TARGET_IN_MEMORY:.0f}x SpiffWorkflow in memory",
            f"{fmt(in_memory.median)}x",
            in_memory.median >= TARGET_IN_MEMORY,
            in_memory.name,
        ),
        Target(
            f">= {TARGET_PERSISTED:.0f}x SpiffWorkflow with per-step JSON (load + step + save)",
            f"{fmt(persisted.median)}x",
            persisted.median >= TARGET_PERSISTED,
            persisted.name,
        ),
    ]
    setup = (
        f"The peer workload exactly: ../shared/peers/chemo.bpmn (copied byte for byte to "
        f"bench/bpmn/chemo_peer.bpmn) in SpiffWorkflow {version('SpiffWorkflow')}, and its "
        f"step-for-step twin bench/definitions/chemo_peer.yaml in carepath (3 baseline tasks "
        f"in parallel, port placement for every even patient, {CYCLES} cycles of labs, count "
        f"gate, infusion and 21-day rest, every {DELAY_EVERY}th patient delayed 7 days once "
        f"by a low ANC at cycle {LOW_CYCLE}, response imaging, follow-up visit). "
        f"{patients:,} carepath and {spiff_patients:,} SpiffWorkflow patients in flight per "
        f"run, advanced round-robin one step each (a task completed or a timer fired, the "
        f"patient's clock moved to its due time); {repeats} runs of each mode, interleaved; "
        f"one process, one thread. Patients/s are per CPU second of the whole run, enrolment "
        f"included (time.process_time). Per-step JSON: every step loads the stored state, "
        f"steps and saves it (carepath json.loads/json.dumps; SpiffWorkflow "
        f"BpmnWorkflowSerializer.deserialize_json/serialize_json); enrolment saves once. "
        f"Ratios are taken per run. Every run checks each patient's completed tasks and fired "
        f"timers against the workload and between the two engines, and raises if they differ."
    )
    return [Section(TITLE, setup, rows, targets)]
