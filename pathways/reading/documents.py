"""Reads one file: a pathway or a calendar, with every structural problem reported."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import available_timezones

from pathways.language import CALENDAR_NAMES, MODALITIES, TOP, TOP_NAMES, WEEKDAYS
from pathways.limits import LIMITS, MAX_STEPS
from pathways.model import Calendar, Pathway, Slot
from pathways.problems import NOWHERE, Problems, did_you_mean
from pathways.reading.fields import read_fields
from pathways.reading.handlers import read_handlers
from pathways.reading.steps import read_steps
from pathways.reading.values import (
    as_list,
    as_mapping,
    check_keys,
    plain,
    read_choice,
    read_free_text,
    read_id,
    read_integer,
    read_text,
)
from pathways.roles import WORKING_ROLES
from pathways.yamlsource import Mapping, Node, OverLimit, Scalar, YamlSyntaxError, parse

Document = Pathway | Calendar


def read_document(text: str, file: str, problems: Problems) -> Document | None:
    """The pathway or calendar in `text`; None when nothing useful could be read."""
    try:
        root = parse(text)
    except OverLimit as error:
        problems.add(error.span, LIMITS, error.message, error.hint, over_limit=True)
        return None
    except YamlSyntaxError as error:
        problems.add(
            error.span,
            "(file)",
            error.message,
            "check indentation (spaces, not tabs), colons and brackets",
        )
        return None
    mapping = as_mapping(problems, root, "(file)", "a definition")
    if mapping is None:
        if isinstance(root, Scalar) and root.value is None:
            problems.add(
                NOWHERE,
                "(file)",
                "the file is empty",
                "a pathway starts with 'pathway:', a calendar with 'calendar:'",
            )
        return None
    if (
        "pathway" not in mapping.entries
        and "calendar" in mapping.entries
        and ("steps" not in mapping.entries)
    ):
        return read_calendar(mapping, file, problems)
    return read_pathway(mapping, file, problems)


def read_pathway(mapping: Mapping, file: str, problems: Problems) -> Pathway | None:
    """A pathway from its top-level mapping."""
    where = "(pathway)"
    check_keys(
        problems, mapping, TOP_NAMES, [key.name for key in TOP if key.required], where, "a pathway"
    )
    pathway_id = read_id(problems, mapping.get("pathway"), where, "a pathway id")
    version = read_integer(problems, mapping.get("version"), where, "'version'", minimum=1)
    title = read_text(problems, mapping.get("title"), where, "'title'")
    modality = read_choice(problems, mapping.get("modality"), where, "a modality", MODALITIES)
    roles = tuple(
        role
        for role in (
            _clinic_role(problems, item)
            for item in as_list(problems, mapping.get("roles"), "roles", "'roles'")
        )
        if role
    )
    calendar = read_id(problems, mapping.get("calendar"), where, "a calendar id")
    events = {}
    declared = as_mapping(problems, mapping.get("events"), "events", "'events'")
    for name, (key_span, fields) in declared.entries.items() if declared else ():
        event = read_id(problems, Scalar(name, key_span), "events", "an event name")
        if event:
            events[event] = read_fields(problems, fields, f"events.{event}", "event field")
    pathway = Pathway(
        id=pathway_id or "",
        version=version or 1,
        title=title or "",
        modality=modality or "",
        file=file,
        roles=roles,
        steps=read_steps(problems, mapping.get("steps"), "steps"),
        spans={key: value.span for key, (_, value) in mapping.entries.items()},
        description=read_free_text(problems, mapping.get("description"), where, "'description'"),
        calendar=calendar or "clinic",
        parameters=_fields(problems, mapping, "parameters", "parameter"),
        patient=_fields(problems, mapping, "patient", "patient attribute"),
        events=events,
        handlers=read_handlers(problems, mapping.get("on"), events)
        if "on" in mapping.entries
        else {},
    )
    if pathway_id:
        _count_steps(pathway, mapping, problems)
    return pathway if pathway_id else None


def _count_steps(pathway: Pathway, mapping: Mapping, problems: Problems) -> None:
    count = sum(1 for _ in pathway.walk())
    if count > MAX_STEPS:
        node = mapping.get("steps")
        problems.add(
            node.span if node is not None else NOWHERE,
            LIMITS,
            f"the pathway has {count:,} steps; the limit is {MAX_STEPS:,}",
            "split it into sub-pathways (call:)",
            over_limit=True,
        )


def _fields(problems: Problems, mapping: Mapping, key: str, kind: str) -> dict:  # type: ignore[type-arg]
    node = mapping.get(key)
    return read_fields(problems, node, key, kind) if node is not None else {}


def read_calendar(mapping: Mapping, file: str, problems: Problems) -> Calendar | None:
    """A clinic calendar from its top-level mapping."""
    where = "(calendar)"
    check_keys(
        problems,
        mapping,
        CALENDAR_NAMES,
        ("calendar", "timezone", "working_days"),
        where,
        "a calendar",
    )
    calendar_id = read_id(problems, mapping.get("calendar"), where, "a calendar id")
    zone = read_text(problems, mapping.get("timezone"), where, "'timezone'")
    if zone is not None and zone not in available_timezones():
        node = mapping.get("timezone")
        assert node is not None
        problems.add(
            node.span,
            where,
            f"unknown time zone '{zone}'",
            did_you_mean(zone, available_timezones()),
        )
    days = [
        read_choice(problems, item, where, "a weekday", WEEKDAYS)
        for item in as_list(problems, mapping.get("working_days"), where, "'working_days'")
    ]
    country, subdivision = _holidays(problems, mapping.get("holidays"), where)
    closures = set()
    for item in (
        as_list(problems, mapping.get("closures"), where, "'closures'")
        if (mapping.get("closures") is not None)
        else ()
    ):
        value = plain(item)
        if isinstance(value, date):
            closures.add(value)
        else:
            problems.add(
                item.span, where, f"closure '{value}' is not a date", "write dates as YYYY-MM-DD"
            )
    if calendar_id is None or zone is None:
        return None
    return Calendar(
        id=calendar_id,
        file=file,
        title=read_text(problems, mapping.get("title"), where, "'title'") or calendar_id,
        timezone=zone,
        working_days=frozenset(WEEKDAYS.index(day) for day in days if day),
        holiday_country=country,
        holiday_subdivision=subdivision,
        closures=frozenset(closures),
        slots=_slots(problems, mapping.get("slots")),
    )


def _holidays(problems: Problems, node: Node | None, where: str) -> tuple[str | None, str | None]:
    mapping = as_mapping(problems, node, where, "'holidays'")
    if mapping is None:
        return None, None
    check_keys(problems, mapping, ("country", "subdivision"), ("country",), where, "'holidays'")
    country = read_text(problems, mapping.get("country"), where, "'country'")
    subdivision = read_text(problems, mapping.get("subdivision"), where, "'subdivision'")
    if country is None:
        return None, None
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        problems.add(
            mapping.span,
            where,
            f"the holidays library has no country '{country}'",
            did_you_mean(country, set(supported)),
        )
        return None, None
    if subdivision is not None and subdivision not in supported[country]:
        problems.add(
            mapping.span,
            where,
            f"country '{country}' has no subdivision '{subdivision}'",
            did_you_mean(subdivision, set(supported[country])),
        )
        return country, None
    return country, subdivision


def _slots(problems: Problems, node: Node | None) -> dict[str, Slot]:
    mapping = as_mapping(problems, node, "slots", "'slots'")
    slots: dict[str, Slot] = {}
    for raw, (key_span, value) in mapping.entries.items() if mapping else ():
        name = read_id(problems, Scalar(raw, key_span), "slots", "a slot name")
        spec = as_mapping(problems, value, f"slots.{raw}", "a slot")
        if name is None or spec is None:
            continue
        where = f"slots.{name}"
        check_keys(problems, spec, ("weekday", "time"), ("weekday", "time"), where, "a slot")
        weekday = read_choice(problems, spec.get("weekday"), where, "a weekday", WEEKDAYS)
        at = _time(problems, spec.get("time"), where)
        if weekday and at:
            slots[name] = Slot(name, WEEKDAYS.index(weekday), at)
    return slots


def _time(problems: Problems, node: Node | None, where: str) -> time | None:
    value = plain(node)
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    if node is not None:
        problems.add(
            node.span,
            where,
            f"time '{value}' is not HH:MM",
            'write the time in quotes, e.g. "07:00"',
        )
    return None


def _clinic_role(problems: Problems, node: Node) -> str | None:
    """A role the pathway gives work to: one of the clinic's working roles (pathways/roles.py)."""
    role = read_id(problems, node, "roles", "a role")
    if role and role not in WORKING_ROLES:
        problems.add(
            node.span,
            "roles",
            f"role '{role}' is not one of the clinic's roles",
            did_you_mean(role, set(WORKING_ROLES)) + " (or add it to pathways/roles.py)",
        )
        return None
    return role
