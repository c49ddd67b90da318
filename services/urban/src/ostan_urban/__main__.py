# Registers the application forms this service's process definitions name.
from ostan.urban.v1 import forms_pb2  # noqa: F401
from ostan_kit.runtime.service import run


def main() -> None:
    run("urban", "ostan_urban")


if __name__ == "__main__":
    main()
