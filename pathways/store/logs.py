"""One logging set-up for every process (API, worker, beat, embedded): never a patient's data.

Our own log lines carry ids, counts and outcomes only. What a library may echo is scrubbed
here: PostgreSQL puts row values in an error's DETAIL line (`Key (mrn)=(...) already exists`,
`Failing row contains (...)`), and SQLAlchemy would add bound values (`[parameters: ...]`,
already hidden by the engines' `hide_parameters=True`), and both reach tracebacks.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

# A whole line from a database error that can repeat stored values.
CARRIES_VALUES = re.compile(r"(DETAIL:|\[parameters:)[^\n]*")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def scrub(text: str) -> str:
    """The text with every database error line that can carry stored values blanked."""
    return CARRIES_VALUES.sub(r"\1 (hidden: it may carry patient data)", text)


class ScrubbingFormatter(logging.Formatter):
    """A formatter whose output, message and traceback alike, has database values scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The dictConfig for a carepath process: everything to stderr, scrubbed, at `level`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"scrubbed": {"()": ScrubbingFormatter, "format": FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "scrubbed",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's own access log prints the query string: carepath.access replaces it.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "uvicorn": {"handlers": [], "propagate": True, "level": level.upper()},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level.upper()},
            # httpx logs every URL it posts to at INFO: a webhook URL may hold its secret.
            "httpx": {"level": "WARNING"},
        },
    }


def configure(level: str = "INFO") -> None:
    """Apply the carepath logging set-up to this process."""
    logging.config.dictConfig(logging_config(level))
