"""The clinic's roles: a closed set, in this one place.

Tokens are issued only for these roles, the API's permission matrix covers each of them, and a
pathway gives work only to them; a typo (`dashbaord`) is refused where it is written, never
turned into a role of its own. Adding a role is a one-line change here, reviewed like any other.
"""

from __future__ import annotations

# Roles that see every enrollment: `admin` (everything), `navigator` (runs patients' pathways
# and may also be given tasks), `dashboard` (read-only, never sees who a patient is).
PRIVILEGED_ROLES: tuple[str, ...] = ("admin", "navigator", "dashboard")

# Staff roles: each works its own task queue and sees only the patients it has work for.
STAFF_ROLES: tuple[str, ...] = (
    "anaesthetist",
    "dosimetrist",
    "interventional_radiology",
    "lab",
    "medical_oncologist",
    "medical_physicist",
    "oncology_nurse",
    "oncology_pharmacist",
    "pharmacist",
    "physical_therapist",
    "radiation_oncologist",
    "radiation_therapist",
    "radiologist",
    "radiology",
    "research_coordinator",
    "scheduler",
    "spine_surgeon",
    "surgeon",
    "tumour_board_coordinator",
)

ROLES: frozenset[str] = frozenset(PRIVILEGED_ROLES + STAFF_ROLES)
# Roles a pathway may give work to: the staff roles and the navigator (never the read-only
# dashboard; `admin` for work no clinical role owns).
WORKING_ROLES: frozenset[str] = frozenset((*STAFF_ROLES, "navigator", "admin"))


def known_role(name: str) -> bool:
    """Whether `name` is one of the clinic's roles."""
    return name in ROLES


def unknown_role(name: str) -> str:
    """Why `name` is refused as a role, listing the roles there are."""
    return (
        f"'{name}' is not one of the clinic's roles; the roles are "
        f"{', '.join(PRIVILEGED_ROLES)}, and the staff roles {', '.join(STAFF_ROLES)} "
        "(pathways/roles.py)"
    )
