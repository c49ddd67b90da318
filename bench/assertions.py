"""What the caller assertion costs per gateway → service call: signing (gateway) and verifying
(service) a fresh assertion, against the bare Ed25519 sign and verify of a message of the same
size, measured in the same run.

    .venv/bin/python bench/assertions.py [--calls N]
"""

from __future__ import annotations

import argparse
import time

from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import (
    AssertionSigner,
    AssertionVerifier,
    generate_key_pair,
    load_private_key,
    load_public_key,
)

CALLER = Actor("clerk-1", "staff", "سارا احمدی", frozenset({"clerk", "supervisor"}), office="foreign-nationals")


def per_call(work, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    private, public = generate_key_pair()
    key, public_key = load_private_key(private.decode()), load_public_key(public.decode())
    signer, verifier = AssertionSigner(key), AssertionVerifier(public_key, "foreign-nationals")
    tokens = iter([signer.sign(CALLER, "foreign-nationals") for _ in range(calls)])
    message = signer.sign(CALLER, "foreign-nationals").encode()
    signature = key.sign(message)

    bare = per_call(lambda: key.sign(message), calls) + per_call(lambda: public_key.verify(signature, message), calls)
    assertion = per_call(lambda: signer.sign(CALLER, "foreign-nationals"), calls) + per_call(
        lambda: verifier.verify(next(tokens)), calls
    )
    print(f"caller assertion, {calls} calls ({len(message)} bytes each)")
    print(f"  bare Ed25519 sign + verify: {bare * 1e6:8.1f} µs per call")
    print(f"  assertion sign + verify:    {assertion * 1e6:8.1f} µs per call   ratio {assertion / bare:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
