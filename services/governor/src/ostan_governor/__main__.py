# Registers the application forms this service's process definitions name.
from ostan.governor.v1 import forms_pb2  # noqa: F401
from ostan_governor.register import SlaRegister
from ostan_kit.runtime.service import run


def main() -> None:
    run("governor", "ostan_governor", extensions=[SlaRegister])


if __name__ == "__main__":
    main()
