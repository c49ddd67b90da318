"""The gateway learns the services from configuration: JSON in the environment or a YAML file,
with the registry's services on their local ports as the default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ostan_gateway.settings import GatewaySettings, ServiceEndpoint
from ostan_kit.runtime.registry import SERVICES


def test_by_default_the_registrys_services_on_their_local_ports():
    services = GatewaySettings().configured_services()
    assert set(services) == set(SERVICES)
    assert services["urban"] == ServiceEndpoint(address="127.0.0.1:50054", code_prefix="UR")


def test_services_from_json_in_the_environment(monkeypatch):
    monkeypatch.setenv(
        "OSTAN_GATEWAY_SERVICES",
        '{"urban": "urban.ostan.svc:50051", "ports": {"address": "ports.ostan.svc:50051", "code_prefix": "PT"}}',
    )
    services = GatewaySettings().configured_services()
    assert services == {
        "urban": ServiceEndpoint(address="urban.ostan.svc:50051", code_prefix="UR"),  # prefix from the registry
        "ports": ServiceEndpoint(address="ports.ostan.svc:50051", code_prefix="PT"),  # a new office: data only
    }


def test_services_from_a_yaml_file(tmp_path):
    path = tmp_path / "services.yaml"
    path.write_text(
        "services:\n  social: {address: 'social:50051', code_prefix: SO}\n  governor: {address: 'governor:50051', code_prefix: GV}\n"
    )
    assert list(GatewaySettings(services_file=path).configured_services()) == ["social", "governor"]


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ({"ports": "ports:50051"}, "give its code_prefix"),
        ({"urban": {"address": "a:1", "code_prefix": "UR"}, "rural": {"address": "b:1", "code_prefix": "UR"}}, "prefix"),
        ({"Urban": {"address": "a:1", "code_prefix": "UR"}}, "kebab-case"),
        ({"urban": {"address": "a:1", "code_prefix": "u"}}, "code_prefix"),
    ],
)
def test_a_wrong_services_configuration_is_refused(services, message):
    with pytest.raises(ValidationError, match=message):
        GatewaySettings(services=services)
