"""Who may do what on the bus: one nkey identity per service, the gateway and each agency, each
with the subjects it may publish and subscribe to, written as a nats-server configuration.

nats-server refuses a connection without a known nkey (no anonymous user) and refuses, as a
permissions violation, every publish or subscription that its user's lists do not allow. The
JetStream API is itself subjects (``$JS.API.…``), so "may read stream X" is "may publish to
X's consumer API subjects and to its acks". ``server_config`` takes any list of ``Identity``, so a
part added later (an agency simulator) adds its own identity beside these.

    python -m ostan_kit.messaging.natsauth config  --dir .ostan/nats/auth   # seeds + server.conf
    python -m ostan_kit.messaging.natsauth secret  --dir … --namespace ostan  # Kubernetes Secrets
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nkeys

from ostan_kit.runtime.registry import SERVICES

DEAD_LETTER_STREAM = "OSTAN_DEAD_LETTERS"
GATEWAY = "gateway"
# The agencies' answers to case steps' inquiries, one subject per service and agency.
INQUIRY_ANSWERS_STREAM = "OSTAN_INQUIRY_ANSWERS"
INQUIRY_ANSWERS_ROOT = "ostan.inquiry-answers"


def inquiry_answers_subject(service: str, agency: str) -> str:
    return f"{INQUIRY_ANSWERS_ROOT}.{service}.{agency}"


def inquiry_answers_durable(service: str) -> str:
    return f"inquiry-answers-{service}"


def stream_name(name: str) -> str:
    return name.replace("-", "_").upper()


def agency_stream(agency: str) -> str:
    """The stream that holds what ``agency`` may receive, and nothing else."""
    return "OSTAN_AGENCY_" + stream_name(agency)


def agency_subject_root(agency: str) -> str:
    return f"ostan-agency.{agency}"


def agency_event_subject(agency: str, service: str, process: str, event: str) -> str:
    return f"{agency_subject_root(agency)}.events.{service}.{process}.{event}"


def agency_parked_subject(agency: str, durable: str) -> str:
    """Where an agency's own consumer parks what it could not handle (in its own stream)."""
    return f"{agency_subject_root(agency)}.parked.{durable}"


def service_dead_letter_subject(service: str, durable: str) -> str:
    return f"ostan-dead.{service}.{durable}"


def inbox_prefix(identity: str) -> str:
    """Replies to an identity's requests come to its own inbox subjects, which no one else reads."""
    return "_INBOX_" + identity


def reads_stream(stream: str, filters: Iterable[str] = (">",)) -> list[str]:
    """Publish permissions for creating and reading durable pull consumers of ``stream``.

    nats-server names the filter subject in the consumer-create subject, so ``filters`` limits
    which subjects a consumer may be made for."""
    allowed = [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
    ]
    for subject_filter in filters:
        allowed.append(f"$JS.API.CONSUMER.CREATE.{stream}.*.{subject_filter}")
        if subject_filter == ">":
            # A consumer with several filter subjects is created without one in the subject.
            allowed.append(f"$JS.API.CONSUMER.CREATE.{stream}.*")
    return allowed


def owns_stream(stream: str) -> list[str]:
    return [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]


@dataclass(frozen=True)
class Identity:
    """One user of the bus: what it may publish to and subscribe to; everything else is refused."""

    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = ()
    description: str = ""

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.name)

    def permissions(self) -> dict[str, dict[str, list[str]]]:
        return {
            "publish": {"allow": sorted(set(self.publish)) or ["_NOTHING_"]},
            # Every identity reads the replies to its own requests (JetStream API answers, fetches).
            "subscribe": {"allow": sorted({f"{self.inbox_prefix}.>", *self.subscribe})},
        }


def service_identity(
    service: str,
    *,
    agency_subjects: Iterable[str] = (),
    reads: Iterable[str] = (),
) -> Identity:
    """An office service: publishes its own events, the agency projections its grants allow
    (exact subjects), its dead letters; owns its stream; reads the streams named in ``reads``."""
    own = SERVICES[service].stream
    agency_subjects = sorted(set(agency_subjects))
    agencies = sorted({subject.split(".")[1] for subject in agency_subjects})
    publish = [
        f"ostan.{service}.>",
        *agency_subjects,
        f"ostan-dead.{service}.>",
        "$JS.API.INFO",
        *owns_stream(own),
        *(subject for agency in agencies for subject in owns_stream(agency_stream(agency))),
        *owns_stream(DEAD_LETTER_STREAM),
        # Replaying what it parked: a consumer of its own dead letters.
        *reads_stream(DEAD_LETTER_STREAM, [f"ostan-dead.{service}.>"]),
        # The agencies' answers to its inquiries: the stream (whoever comes first makes it), and
        # a consumer of the answers addressed to this service only.
        *owns_stream(INQUIRY_ANSWERS_STREAM),
        *reads_stream(INQUIRY_ANSWERS_STREAM, [inquiry_answers_subject(service, "*")]),
    ]
    for stream in reads:
        publish.extend(reads_stream(stream))
    return Identity(f"service-{service}", tuple(publish), description=f"the {service} office service")


def agency_identity(agency: str) -> Identity:
    """An agency reads its own stream (only what its grants projected into it) and parks there."""
    stream = agency_stream(agency)
    publish = [
        "$JS.API.INFO",
        *reads_stream(stream, [f"{agency_subject_root(agency)}.>"]),
        f"{agency_subject_root(agency)}.parked.>",
    ]
    return Identity(f"agency-{agency}", tuple(publish), description=f"the agency {agency}")


def inquiry_answerer_identity(name: str, services: Iterable[str] = tuple(SERVICES)) -> Identity:
    """Whoever answers case steps' inquiries on the agencies' behalf (the local agency simulator,
    or a bridge to the agencies' own systems): reads the ``inquiry-requested`` events of the
    services' streams and publishes answers on the answers stream, nothing else."""
    publish = [
        "$JS.API.INFO",
        f"{INQUIRY_ANSWERS_ROOT}.>",
        *owns_stream(INQUIRY_ANSWERS_STREAM),
    ]
    for service in services:
        publish.extend(reads_stream(SERVICES[service].stream, [f"ostan.{service}.*.inquiry-requested"]))
    return Identity(name, tuple(publish), description="answers case steps' inquiries for the agencies")


def gateway_identity() -> Identity:
    """The gateway: may ask the server about JetStream, nothing more, until it needs the bus."""
    return Identity(GATEWAY, ("$JS.API.INFO",), description="the gateway")


@dataclass
class KeyStore:
    """One nkey seed file per identity in ``folder`` (mode 0600), made when first asked for."""

    folder: Path
    _cache: dict[str, nkeys.KeyPair] = field(default_factory=dict)

    def seed_file(self, name: str) -> Path:
        return self.folder / f"{name}.nk"

    def key_pair(self, name: str) -> nkeys.KeyPair:
        if name not in self._cache:
            path = self.seed_file(name)
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(seed + b"\n")
            self._cache[name] = nkeys.from_seed(bytearray(path.read_bytes().strip()))
        return self._cache[name]

    def public_key(self, name: str) -> str:
        return self.key_pair(name).public_key.decode()

    def seed(self, name: str) -> str:
        return self.seed_file(name).read_text().strip()


def server_config(
    identities: Iterable[Identity],
    public_keys: dict[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 4222,
    store_dir: str | None = None,
    server_name: str = "ostan",
    extra: dict | None = None,
) -> dict:
    """The nats-server configuration (JSON is valid nats-server syntax): JetStream on, every
    user an nkey with its permissions, no anonymous user."""
    users = [
        {"nkey": public_keys[identity.name], "permissions": identity.permissions()}
        for identity in identities
    ]
    config: dict = {
        "host": host,
        "port": port,
        "server_name": server_name,
        "jetstream": {"store_dir": store_dir} if store_dir else {},
        "authorization": {"users": users},
    }
    config.update(extra or {})
    return config


def platform_identities(grants_by_service: dict[str, list], agencies: Iterable[str]) -> list[Identity]:
    """Every identity of the platform: the services (with the agency subjects their grants name;
    the governor reads every office's stream for its register), the gateway and each agency."""
    identities = []
    for service in SERVICES:
        subjects = [subject for grant in grants_by_service.get(service, []) for subject in grant.subjects()]
        reads = [info.stream for info in SERVICES.values()] if service == "governor" else []
        identities.append(service_identity(service, agency_subjects=subjects, reads=reads))
    identities.append(gateway_identity())
    identities.extend(agency_identity(agency) for agency in agencies)
    return identities


def write_platform_config(
    auth_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4222,
    store_dir: str | None = None,
    server_name: str = "ostan",
    extra_identities: Iterable[Identity] = (),
) -> Path:
    """Seeds for every identity (kept if already there) and ``server.conf`` beside them."""
    from ostan_kit.agencies import load_agencies
    from ostan_kit.messaging.grants import load_all_grants

    identities = [*platform_identities(load_all_grants(), load_agencies()), *extra_identities]
    keys = KeyStore(auth_dir)
    public = {identity.name: keys.public_key(identity.name) for identity in identities}
    config = server_config(
        identities, public, host=host, port=port, store_dir=store_dir, server_name=server_name
    )
    path = auth_dir / "server.conf"
    path.write_text(json.dumps(config, indent=2) + "\n")
    # The same users as a fragment a cluster's own configuration includes (``include auth.conf``).
    (auth_dir / "auth.conf").write_text("authorization: " + json.dumps(config["authorization"], indent=2) + "\n")
    return path


def kubernetes_secrets(auth_dir: Path, namespace: str, config_path: Path) -> list[dict]:
    """The server configuration and each identity's seed as Kubernetes Secrets: ``nats-config``
    (``nats.conf``, a whole single-server configuration, and ``auth.conf``, only the users, for a
    cluster's configuration to ``include``) for the NATS pods, ``nats-<identity>`` (key
    ``user.nk``) for each client."""

    def secret(name: str, data: dict[str, bytes]) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "ostan"}},
            "type": "Opaque",
            "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
        }

    secrets = [
        secret(
            "nats-config",
            {"nats.conf": config_path.read_bytes(), "auth.conf": (auth_dir / "auth.conf").read_bytes()},
        )
    ]
    for seed in sorted(auth_dir.glob("*.nk")):
        secrets.append(secret(f"nats-{seed.stem}", {"user.nk": seed.read_bytes()}))
    return secrets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ostan_kit.messaging.natsauth", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["config", "secret"])
    parser.add_argument("--dir", type=Path, required=True, help="where the seeds and server.conf are kept")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--store-dir", default="/data/jetstream")
    parser.add_argument("--server-name", default="ostan")
    parser.add_argument("--namespace", default="ostan")
    args = parser.parse_args(argv)
    path = write_platform_config(
        args.dir, host=args.host, port=args.port, store_dir=args.store_dir, server_name=args.server_name
    )
    if args.command == "config":
        print(path)
        return
    import yaml

    yaml.safe_dump_all(kubernetes_secrets(args.dir, args.namespace, path), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
