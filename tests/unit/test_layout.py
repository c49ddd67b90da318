"""House rules that keep the repository honest."""

import ast
import filecmp
import importlib.resources
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ostan_kit.runtime.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIRS = sorted((ROOT / "services").iterdir())


def test_every_registered_service_has_a_folder_and_nothing_else_does():
    assert sorted(path.name for path in SERVICE_DIRS) == sorted(SERVICES)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("service", SERVICE_DIRS, ids=lambda path: path.name)
def test_a_service_never_imports_another_service(service):
    others = {SERVICES[path.name].package for path in SERVICE_DIRS if path != service}
    for source in service.rglob("*.py"):
        assert not (_imported_modules(source) & others), f"{source} imports another service"


def _shape(service: Path) -> set[str]:
    """The service's code files (not its data or its own tests), its name replaced."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "."],
        cwd=service,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    name = service.name.replace("-", "_")
    return {path.replace(name, "<name>") for path in listed if not _is_data(path) and (service / path).exists()}


def _is_data(path: str) -> bool:
    """The office's own catalogue entries and process definitions (in its package), or its tests."""
    parts = path.split("/")
    return parts[0] == "tests" or (parts[0] == "src" and len(parts) > 3 and parts[2] in ("catalogue", "processes", "inquiries"))


# The little code of a service's own beyond the template, named here so that it stays little.
OWN_CODE = {
    # The province-wide register of SLA breaches: its consumers, table and gRPC service.
    "governor": {"src/ostan_<name>/register.py", "src/ostan_<name>/migrations/versions/0006_sla_register.py"},
}

# The template's migrations that follow a service's own migration come a number later there.
RENUMBERED = {
    "governor": {
        "src/ostan_<name>/migrations/versions/0007_issued_documents.py": "src/ostan_<name>/migrations/versions/0006_issued_documents.py",
        "src/ostan_<name>/migrations/versions/0008_audit_log.py": "src/ostan_<name>/migrations/versions/0007_audit_log.py",
    },
}


def _template_shape(service: Path) -> set[str]:
    renumbered = RENUMBERED.get(service.name, {})
    return {renumbered.get(path, path) for path in _shape(service) - OWN_CODE.get(service.name, set())}


def test_the_services_are_built_from_one_template():
    shapes = {service.name: _template_shape(service) for service in SERVICE_DIRS}
    first = next(iter(shapes.values()))
    for name, shape in shapes.items():
        assert shape == first, f"{name} differs from the template: {shape ^ first}"
    for name, own in OWN_CODE.items():
        assert own <= _shape(ROOT / "services" / name), f"{name} no longer has {own}: update OWN_CODE"
    for name, renumbered in RENUMBERED.items():
        assert set(renumbered) <= _shape(ROOT / "services" / name), f"{name} no longer has {set(renumbered)}"


@pytest.mark.parametrize("service", SERVICE_DIRS, ids=lambda path: path.name)
def test_a_service_keeps_its_data_inside_its_package(service):
    """So that its wheel carries its catalogue, processes and migrations, found by importlib.resources."""
    package = SERVICES[service.name].package
    assert not any((service / folder).exists() for folder in ("catalogue", "processes", "migrations"))
    installed = Path(str(importlib.resources.files(package)))
    assert installed == service / "src" / package
    assert list((installed / "catalogue").glob("*.yaml"))
    assert (installed / "migrations" / "env.py").is_file()
    declared = tomllib.loads((service / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    assert {"catalogue/*.yaml", "processes/*.yaml", "migrations/versions/*.py"} <= set(declared[package])


def test_buf_lint_is_clean():
    buf = Path(sys.executable).parent / "buf"
    result = subprocess.run([str(buf), "lint"], cwd=ROOT / "proto", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_not_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "proto/python"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == ["proto/python/pyproject.toml"]


def test_generated_code_matches_the_protos(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_proto.py"), str(tmp_path)], check=True)
    installed = ROOT / "proto" / "python"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh, "nothing was generated"
    for relative in fresh:
        assert filecmp.cmp(tmp_path / relative, installed / relative, shallow=False), (
            f"{relative} is stale: run make gen"
        )
