# Registers the application forms this service's process definitions name.
from ostan.social.v1 import forms_pb2  # noqa: F401
from ostan_kit.runtime.service import run


def main() -> None:
    run("social", "ostan_social")


if __name__ == "__main__":
    main()
