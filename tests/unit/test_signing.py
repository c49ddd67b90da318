"""Inquiry answers are signed with the newest of several Ed25519 keys; every key stays published,
so an answer signed before a rotation still verifies (checked with joserfc, not the signer's PyJWT)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from ostan_gateway.signing import AnswerSigner, new_key_file

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
ANSWER = {"inquiry": "holdings", "answer": {"holdings": []}, "subject": "0084575948", "amount": 1.5}


def payload(token: str, jwks: dict) -> dict:
    return json.loads(jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["EdDSA"]).payload)


def test_the_newest_key_signs_and_an_older_answer_still_verifies_after_a_rotation(tmp_path):
    signer = AnswerSigner.from_folder(tmp_path, create=True)
    before = signer.sign(ANSWER)
    new_key_file(tmp_path, datetime(2999, 1, 1, tzinfo=UTC))
    rotated = AnswerSigner.from_folder(tmp_path)
    after = rotated.sign(ANSWER)
    jwks = rotated.jwks()
    assert [key["kid"] for key in jwks["keys"]] == [rotated.keys[1].kid, rotated.keys[0].kid]
    assert all(key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" for key in jwks["keys"])
    assert jws.extract_compact(after.encode()).headers()["kid"] == rotated.current.kid != signer.current.kid
    assert payload(before, jwks) == payload(after, jwks) == ANSWER


def test_a_changed_answer_does_not_verify(tmp_path):
    signer = AnswerSigner.from_folder(tmp_path, create=True)
    header, body, signature = signer.sign(ANSWER).split(".")
    forged = signer.sign({**ANSWER, "subject": "0067749828"}).split(".")[1]
    with pytest.raises(BadSignatureError):
        payload(".".join((header, forged, signature)), signer.jwks())


def test_a_folder_without_keys_is_refused_unless_asked_to_make_one(tmp_path):
    with pytest.raises(ValueError, match="no inquiry signing keys"):
        AnswerSigner.from_folder(tmp_path)
    assert len(AnswerSigner.from_folder(tmp_path, create=True).keys) == 1
