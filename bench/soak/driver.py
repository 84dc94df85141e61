"""The soak's staff, over HTTP: enrol patients, then complete tasks, hold and resume, and
report adverse events until told to stop.

Waits are made short at enrolment (every duration parameter a few tens of seconds), so
timers are created and fire within the run. Every post carries an idempotency key and is
sent again, with the same key, after a connection error or a 5xx (e.g. while Redis is down).
"""

from __future__ import annotations

import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.soak.records import Driven
from bench.soak.values import GRADES, SHORT_WAIT, TERMS, handles_adverse_events, plausible
from pathways.service.demo import PATIENT_ATTRIBUTES

RETRIES = 20
RETRY_PAUSE = 0.5  # s, doubled up to 5 s


class Refused(Exception):
    """The API refused a post (4xx: nothing stored), or it never answered after every retry."""


class Driver:
    """Threads of simulated staff sharing one record of what they sent."""

    def __init__(self, base_url: str, token: str, definitions: Path, seed: int) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.adverse = handles_adverse_events(definitions)
        self.rng = random.Random(seed)
        self.driven = Driven()
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.enrolled: list[tuple[str, str]] = []  # (enrollment id, pathway)
        self.holds = self.driven.holds  # enrollment -> last (hold or resume, event id)
        self.sent = 0
        self.failure: BaseException | None = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30)

    def post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, again with the same body after connection errors and 5xx; 4xx raises Refused."""
        pause = RETRY_PAUSE
        for attempt in range(RETRIES):
            try:
                answer = client.post(path, json=body)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code < 500:
                if answer.status_code >= 400:
                    with self.lock:
                        self.driven.refused += 1
                    raise Refused(f"{path}: HTTP {answer.status_code}")
                result: dict[str, Any] = answer.json()
                return result
            with self.lock:
                if answer is None:
                    self.driven.connection_errors += 1
                else:
                    self.driven.server_errors += 1
            if attempt + 1 < RETRIES:
                time.sleep(pause)
                pause = min(2 * pause, 5.0)
        with self.lock:
            self.driven.given_up += 1
        raise Refused(f"{path}: gave up after {RETRIES} tries")

    def accepted(self, answer: dict[str, Any]) -> int:
        event = int(answer["event"])
        with self.lock:
            self.driven.accepted.add(event)
            self.sent += 1
        return event

    # --- enrolment --------------------------------------------------------------------

    def enrol(self, count: int, run: str, threads: int) -> None:
        """Register and enrol `count` patients, dealt over the library's pathways."""
        with self.client() as client:
            listing = client.get("/pathways")
            listing.raise_for_status()
            names = sorted(item["pathway"] for item in listing.json())
            details = {name: client.get(f"/pathways/{name}").json() for name in names}

        def enrol_some(numbers: range) -> None:
            with self.client() as client:
                for number in numbers:
                    detail = details[names[number % len(names)]]
                    try:
                        self._enrol_one(client, detail, f"{run}-{number:05d}")
                    except Refused as refused:
                        print(f"enrolment refused: {refused}", file=sys.stderr, flush=True)
                        with self.lock:
                            self.driven.enrol_failures += 1

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(enrol_some, [range(n, count, threads) for n in range(threads)]))
        self.driven.enrollments = len(self.enrolled)

    def _enrol_one(self, client: httpx.Client, detail: dict[str, Any], mrn: str) -> None:
        parameters = {
            name: f"PT{self.rng.randint(*SHORT_WAIT)}S"
            for name, field in detail["parameters"].items()
            if field["type"] == "duration"
        }
        parameters |= plausible(
            {n: f for n, f in detail["parameters"].items() if f["required"]}, self.rng
        )
        patient = {k: v for k, v in PATIENT_ATTRIBUTES.items() if k in detail["patient"]}
        patient |= plausible(
            {n: f for n, f in detail["patient"].items() if f["required"] and n not in patient},
            self.rng,
        )
        registered = self.post(
            client, "/patients", {"mrn": f"SOAK-{mrn}", "display_name": f"Soak {mrn}"}
        )
        enrolment = {
            "patient_id": registered["id"],
            "pathway": detail["pathway"],
            "parameters": parameters,
            "patient": patient,
            "idempotency_key": f"soak:enrol:{mrn}",
        }
        enrollment = self.post(client, "/enrollments", enrolment)
        self.enrolled.append((enrollment["id"], detail["pathway"]))

    # --- the staff -----------------------------------------------------------------------

    def start(self, threads: int, rate: float, run: str) -> list[threading.Thread]:
        """Staff threads, each acting on its share of the enrollments at `rate`/threads a second."""
        started = []
        for number in range(min(threads, len(self.enrolled))):
            share = self.enrolled[number::threads]
            seed = self.rng.randrange(2**32)
            thread = threading.Thread(
                target=self._staff,
                args=(share, threads / rate, random.Random(seed), f"{run}:{number}"),
                name=f"soak-staff-{number}",
                daemon=True,
            )
            thread.start()
            started.append(thread)
        return started

    def _staff(
        self, share: list[tuple[str, str]], pause: float, rng: random.Random, label: str
    ) -> None:
        sequence = 0
        try:
            with self.client() as client:
                while not self.halt.is_set():
                    enrollment, pathway = rng.choice(share)
                    sequence += 1
                    try:
                        self._act(client, enrollment, pathway, rng, f"soak:{label}:{sequence}")
                    except Refused:
                        pass  # refused (e.g. the task was done meanwhile): counted; go on
                    except httpx.TransportError:  # a read (GET) with no answer: next action
                        with self.lock:
                            self.driven.connection_errors += 1
                    self.halt.wait(rng.uniform(0.5, 1.5) * pause)
        except BaseException as error:  # the report says the driver broke
            self.failure = error

    def _act(
        self, client: httpx.Client, enrollment: str, pathway: str, rng: random.Random, key: str
    ) -> None:
        last = self.holds.get(enrollment, ("resume", 0))[0]
        roll = rng.random()
        if last == "hold":
            if roll < 0.3:
                body = {"reason": "soak: back from admission", "idempotency_key": key}
                answer = self.post(client, f"/enrollments/{enrollment}/resume", body)
                self.holds[enrollment] = ("resume", self.accepted(answer))
            return
        if roll < 0.04:
            body = {"reason": "soak: admitted", "idempotency_key": key}
            answer = self.post(client, f"/enrollments/{enrollment}/hold", body)
            self.holds[enrollment] = ("hold", self.accepted(answer))
        elif roll < 0.10 and pathway in self.adverse:
            data = {"term": rng.choice(TERMS), "grade": rng.choice(GRADES)}
            body = {"type": "adverse_event", "data": data, "idempotency_key": key}
            self.accepted(self.post(client, f"/enrollments/{enrollment}/events", body))
        else:
            self._complete_a_task(client, enrollment, rng, key)

    def _complete_a_task(
        self, client: httpx.Client, enrollment: str, rng: random.Random, key: str
    ) -> None:
        found = client.get("/tasks", params={"enrollment": enrollment})
        if found.status_code != 200:
            return
        ready = [t for t in found.json()["items"] if t["status"] in ("ready", "in-progress")]
        if not ready:
            return  # waiting on a timer, or on hold
        task = rng.choice(ready)
        detail = client.get(f"/tasks/{task['id']}")
        if detail.status_code != 200:
            return
        data = plausible(detail.json()["form"], rng)
        body = {"data": data, "idempotency_key": key}
        self.accepted(self.post(client, f"/tasks/{task['id']}/complete", body))
