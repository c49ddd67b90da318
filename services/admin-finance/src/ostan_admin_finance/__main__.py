# Registers the application forms this service's process definitions name.
from ostan.admin_finance.v1 import forms_pb2  # noqa: F401
from ostan_kit.runtime.service import run


def main() -> None:
    run("admin-finance", "ostan_admin_finance")


if __name__ == "__main__":
    main()
