"""The engine core stays pure: no database, broker, web framework or environment inside it."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

# Adapters that may touch the outside world; everything else in pathways/ but the store and
# the handlers (pathways/service/) is the core.
ADAPTERS = {
    "cli.py",
    "cli_group.py",
    "cli_events.py",
    "cli_operations.py",
    "cli_webhooks.py",
    "gantt.py",
}
FORBIDDEN_MODULES = {
    "sqlmodel",
    "sqlalchemy",
    "celery",
    "redis",
    "fastapi",
    "starlette",
    "workers",
    "api",
    "random",
    "subprocess",
    "socket",
    "requests",
    "httpx",
}


def _core_modules() -> list[Path]:
    return [
        path
        for path in sorted((ROOT / "pathways").rglob("*.py"))
        if path.name not in ADAPTERS and not {"store", "service"} & set(path.parts)
    ]


def test_the_core_imports_no_infrastructure() -> None:
    offenders = []
    for path in _core_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_core_reads_no_environment_and_no_clock() -> None:
    offenders = []
    for path in _core_modules():
        text = path.read_text(encoding="utf-8")
        for needle in (
            "os.environ",
            "getenv",
            "datetime.now",
            "date.today",
            "time.time(",
            "eval(",
            "exec(",
        ):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)} uses {needle}")
    assert offenders == []


def test_the_scan_sees_the_core() -> None:
    names = {path.name for path in _core_modules()}
    assert {"expressions.py", "machine.py", "validator.py"} <= names


def _contract(name_start: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"].startswith(name_start))


def test_the_import_contract_names_every_core_module() -> None:
    # A new core module left out of the contract would escape `make lint`.
    listed = set(_contract("The engine core")["source_modules"])  # type: ignore[arg-type]
    core = {".".join(path.relative_to(ROOT).with_suffix("").parts[:2]) for path in _core_modules()}
    assert core - {"pathways.__init__"} <= listed
    assert "pathways.runtime" in core


def test_the_import_contracts_hold(tmp_path: Path) -> None:
    # `make lint` runs the same check; here a broken contract fails the unit tests too.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_only_the_handlers_commit_and_read_the_clock() -> None:
    # One command, one handler, one commit: the store, the API, the workers, the command line
    # and the benchmarks never commit (the handlers in pathways/service/ do), and the store
    # never reads the clock (a handler passes `now`). A `.commit()` elsewhere is a second
    # convention.
    offenders = []
    for package in ("pathways", "api", "workers", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "service" in relative.parts or "migrations" in relative.parts:
                continue
            text = path.read_text(encoding="utf-8")
            if ".commit()" in text and relative != Path("pathways/store/unit_of_work.py"):
                offenders.append(f"{relative} commits")
            if "store" in relative.parts and "datetime.now" in text:
                offenders.append(f"{relative} reads the clock")
    assert offenders == []


def test_every_command_has_exactly_one_handler() -> None:
    from pathways.service.bus import HANDLERS, unhandled
    from pathways.service.commands import all_commands

    assert unhandled() == set()
    assert set(HANDLERS) == set(all_commands())
    assert len(set(HANDLERS.values())) == len(HANDLERS)  # no handler serves two commands
