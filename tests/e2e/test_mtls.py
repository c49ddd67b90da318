"""mTLS between the gateway and a service, by configuration alone: certificates made here (a CA,
the service's server certificate, the gateway's client certificate), a real service process and
real sockets. Without a certificate the CA signed, no call gets through."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ostan.common.v1 import case_pb2, catalogue_pb2, catalogue_pb2_grpc
from ostan_devstack.stack import free_port
from ostan_gateway.problems import Problem
from ostan_gateway.services import Services, channel_credentials
from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import AssertionSigner, generate_key_pair, load_private_key
from ostan_kit.text.tracking import make_code

pytestmark = pytest.mark.e2e

SERVICE = "governor"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key, certificate


def make_leaf(folder: Path, name: str, ca: tuple, usage: x509.ObjectIdentifier) -> None:
    ca_key, ca_certificate = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def test_mtls_lets_in_only_clients_with_a_certificate_of_the_ca(tmp_path):
    certificates = tmp_path / "certificates"
    certificates.mkdir()
    ca = make_ca(certificates, "ca")
    rogue_ca = make_ca(certificates, "rogue-ca")
    make_leaf(certificates, "service", ca, ExtendedKeyUsageOID.SERVER_AUTH)
    make_leaf(certificates, "gateway", ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    make_leaf(certificates, "rogue", rogue_ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    private, public = generate_key_pair()
    port = free_port()
    prefix = "OSTAN_GOVERNOR_"
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("OSTAN_")},
        prefix + "GRPC_PORT": str(port),
        prefix + "STATE_DIR": str(tmp_path / "state"),
        prefix + "NATS_URL": f"nats://127.0.0.1:{free_port()}",  # no bus: the calls here need none
        prefix + "TLS_CERT_FILE": str(certificates / "service.pem"),
        prefix + "TLS_KEY_FILE": str(certificates / "service.key"),
        prefix + "TLS_CLIENT_CA_FILE": str(certificates / "ca.pem"),
        prefix + "GATEWAY_PUBLIC_KEY": public.decode(),
    }
    log = tmp_path / "governor.log"
    with open(log, "wb") as output:
        service = subprocess.Popen(
            [sys.executable, "-m", "ostan_governor"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    address = f"127.0.0.1:{port}"
    gateway_credentials = channel_credentials(
        certificates / "ca.pem", certificates / "gateway.pem", certificates / "gateway.key"
    )

    def list_entries(channel: grpc.Channel) -> catalogue_pb2.ListEntriesResponse:
        stub = catalogue_pb2_grpc.CatalogueServiceStub(channel)
        return stub.ListEntries(catalogue_pb2.ListEntriesRequest(page_size=1), timeout=5)

    try:
        deadline = time.monotonic() + 90
        while True:
            assert service.poll() is None, log.read_text()
            try:
                with grpc.secure_channel(address, gateway_credentials) as channel:
                    assert list_entries(channel).service == SERVICE
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)

        refusals = {
            "plaintext": grpc.insecure_channel(address),
            "TLS without a client certificate": grpc.secure_channel(
                address, channel_credentials(certificates / "ca.pem", None, None)
            ),
            "a certificate of another CA": grpc.secure_channel(
                address,
                channel_credentials(certificates / "ca.pem", certificates / "rogue.pem", certificates / "rogue.key"),
            ),
        }
        for what, channel in refusals.items():
            with channel, pytest.raises(grpc.RpcError) as refused:
                list_entries(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, what

        # The gateway's own client, configured the same way, passes the caller on over mTLS.
        async def through_the_gateway_client() -> int:
            services = Services(
                {SERVICE: address}, AssertionSigner(load_private_key(private.decode())), gateway_credentials
            )
            clerk = Actor("clerk-1", "staff", "S", frozenset({"clerk"}), office="women-family")
            try:
                await services.call(
                    SERVICE,
                    services[SERVICE].cases.GetCase,
                    case_pb2.GetCaseRequest(code=make_code("GV", 1405, 1)),
                    timeout=5,
                    actor=clerk,
                )
            except Problem as problem:
                return problem.status
            return 200

        assert asyncio.run(through_the_gateway_client()) == 404  # believed, and the case is not there
    finally:
        service.terminate()
        service.wait(30)
