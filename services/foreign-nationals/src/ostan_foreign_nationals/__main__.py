# Registers the application forms this service's process definitions name.
from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401
from ostan_kit.runtime.service import run


def main() -> None:
    run("foreign-nationals", "ostan_foreign_nationals")


if __name__ == "__main__":
    main()
