from pathlib import Path

# Registers the application forms this service's process definitions name.
from ostan.governor.v1 import forms_pb2  # noqa: F401
from ostan_governor.register import SlaRegister
from ostan_kit.runtime.service import run

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run("governor", ROOT, extensions=[SlaRegister])


if __name__ == "__main__":
    main()
