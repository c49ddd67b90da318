"""The agencies' signatures on their answers: an answer counts only if it is an EdDSA JWS made with
a key configured for THAT agency (its kid in the agency's JWKS) over the same request, agency,
verdict and body as the event; everything else is refused, and so is every agency without keys."""

from __future__ import annotations

import base64
import json
import logging
import os

import jwt
import pytest

from ostan.common.v1 import events_pb2
from ostan_devstack.agency_keys import AgencyKeyring, ensure_agency_keys
from ostan_kit.inquiries.signatures import AgencyKeys, AgencyKeysError, AnswerRefused

KEYRING = AgencyKeyring(None, ["police", "judiciary"])
KEYS = AgencyKeys.from_document(KEYRING.document())
CLAIMS = {"request_id": "r-1", "agency": "police", "verdict": "positive", "answer": {"letter": "SIM-1"}}


def answer(signature: str, **fields: str) -> events_pb2.InquiryAnswered:
    message = events_pb2.InquiryAnswered(
        **{"request_id": "r-1", "agency": "police", "verdict": "positive", **fields}, signature=signature
    )
    message.answer.update({"letter": "SIM-1"})
    return message


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_genuine_answer_verifies_and_its_signed_payload_is_returned():
    assert KEYS.verify(answer(KEYRING.sign("police", CLAIMS))) == CLAIMS
    assert KEYS.agencies() == ["judiciary", "police"]


def test_a_signature_made_with_another_key_under_the_agencys_kid_is_forged():
    forger = AgencyKeyring(None, ["police"])
    token = jwt.encode(CLAIMS, forger.private_key("police"), algorithm="EdDSA", headers={"kid": KEYRING.jwk("police")["kid"]})
    with pytest.raises(AnswerRefused, match="does not verify"):
        KEYS.verify(answer(token))
    with pytest.raises(AnswerRefused, match="is not one of agency 'police'"):  # the forger's own kid
        KEYS.verify(answer(forger.sign("police", CLAIMS)))


def test_another_agencys_key_does_not_sign_for_the_police():
    token = KEYRING.sign("judiciary", CLAIMS)  # a genuine judiciary key, claiming to be the police
    with pytest.raises(AnswerRefused, match="is not one of agency 'police'"):
        KEYS.verify(answer(token))
    # The police's key over a payload that names the judiciary: not what the event says.
    with pytest.raises(AnswerRefused, match="signed agency 'judiciary'"):
        KEYS.verify(answer(KEYRING.sign("police", {**CLAIMS, "agency": "judiciary"})))


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_only_eddsa_is_accepted(algorithm):
    kid = KEYRING.jwk("police")["kid"]
    if algorithm == "none":
        token = f"{b64({'alg': 'none', 'kid': kid})}.{b64(CLAIMS)}."
    else:  # the classic confusion: the public key used as an HMAC secret
        secret = KEYRING.jwk("police")["x"].encode()
        token = jwt.encode(CLAIMS, secret, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(AnswerRefused, match=f"algorithm '{algorithm}' is not EdDSA"):
        KEYS.verify(answer(token))


@pytest.mark.parametrize(
    ("fields", "body", "reason"),
    [
        ({"request_id": "r-2"}, None, "signed request_id"),
        ({"verdict": "negative"}, None, "signed verdict"),
        ({}, {"letter": "SIM-2"}, "body is not the one signed"),
    ],
)
def test_the_signed_payload_must_say_what_the_event_says(fields, body, reason):
    message = answer(KEYRING.sign("police", CLAIMS), **fields)
    if body:
        message.answer.update(body)
    with pytest.raises(AnswerRefused, match=reason):
        KEYS.verify(message)


@pytest.mark.parametrize("token", ["", "x.y.z", "not a jws", "a.b", f"{b64({'alg': 'EdDSA'})}.e30"])
def test_a_malformed_signature_is_refused(token):
    with pytest.raises(AnswerRefused):
        KEYS.verify(answer(token))


def test_a_tampered_payload_no_longer_verifies():
    header, _payload, signature = KEYRING.sign("police", CLAIMS).split(".")
    with pytest.raises(AnswerRefused, match="does not verify"):
        KEYS.verify(answer(f"{header}.{b64({**CLAIMS, 'verdict': 'positive', 'extra': 1})}.{signature}"))


def test_an_agency_without_keys_is_refused_with_a_clear_log_line(caplog):
    token = KEYRING.sign("police", {**CLAIMS, "agency": "irgc"})
    with caplog.at_level(logging.WARNING), pytest.raises(AnswerRefused, match="no keys are configured for agency 'irgc'"):
        KEYS.verify(answer(token, agency="irgc"))
    assert "deny by default" in caplog.text
    with pytest.raises(AnswerRefused, match="no keys"):  # nothing configured at all
        AgencyKeys.from_file(None).verify(answer(KEYRING.sign("police", CLAIMS)))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not an object"),
        ({"police": {"keys": "no"}}, "not a JWKS"),
        ({"police": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}}, "has no kid"),
        ({"police": {"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}]}}, "not an OKP/Ed25519"),
        ({"police": {"keys": [{**KEYRING.jwk("police"), "d": "secret"}]}}, "private part"),
        ({"police": {"keys": [KEYRING.jwk("police"), KEYRING.jwk("police")]}}, "appears twice"),
    ],
)
def test_a_keys_file_that_cannot_be_trusted_is_refused_at_start(document, message):
    with pytest.raises(AgencyKeysError, match=message):
        AgencyKeys.from_document(document)


def test_the_local_runs_keys_outlive_a_restart_and_the_file_is_read_again_when_it_changes(tmp_path):
    path = ensure_agency_keys(tmp_path)
    assert oct(os.stat(tmp_path / "police.pem").st_mode & 0o777) == "0o600"
    keyring = AgencyKeyring(tmp_path)  # a restarted simulator: the same keys
    keys = AgencyKeys.from_file(path)
    token = keyring.sign("police", CLAIMS)
    assert keys.verify(answer(token)) == CLAIMS
    assert ensure_agency_keys(tmp_path) == path and keys.verify(answer(token)) == CLAIMS

    # The police's key is rotated: the file changes and the service reads it again.
    (tmp_path / "police.pem").unlink()
    rotated = AgencyKeyring(tmp_path)
    rotated.publish()
    with pytest.raises(AnswerRefused, match="is not one of agency 'police'"):
        keys.verify(answer(token))
    assert keys.verify(answer(rotated.sign("police", CLAIMS))) == CLAIMS
    # A broken file is not read; the keys read last still count.
    path.write_text("{", "utf-8")
    assert keys.verify(answer(rotated.sign("police", CLAIMS))) == CLAIMS
    with pytest.raises(AgencyKeysError):
        AgencyKeys.from_file(path)
