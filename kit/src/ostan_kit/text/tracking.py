"""Case tracking codes: ``<service prefix>-<Jalali year>-<sequence>-<check digit>``, e.g.
``FN-1405-000042-3``. The Verhoeff check digit catches every mistyped digit and every swap of two
neighbouring digits. Persian and Arabic digits are accepted when a code is read back."""

from __future__ import annotations

import re

from stdnum import verhoeff

from ostan_kit.text.persian import ascii_digits

_CODE = re.compile(r"^([A-Z]{2})-(\d{4})-(\d{6,})-(\d)$")


def make_code(prefix: str, year: int, sequence: int) -> str:
    digits = f"{year:04d}{sequence:06d}"
    return f"{prefix}-{year:04d}-{sequence:06d}-{verhoeff.calc_check_digit(digits)}"


def parse_code(text: str) -> tuple[str, int, int]:
    """The prefix, year and sequence of a well-formed code; ValueError names what is wrong."""
    code = ascii_digits(text).strip().upper()
    match = _CODE.match(code)
    if not match:
        raise ValueError("a tracking code looks like FN-1405-000042-3")
    prefix, year, sequence, check = match.groups()
    if not verhoeff.is_valid(f"{year}{sequence}{check}"):
        raise ValueError("the tracking code's check digit does not match: a digit is mistyped")
    return prefix, int(year), int(sequence)


def normalise_code(text: str) -> str:
    prefix, year, sequence = parse_code(text)
    return make_code(prefix, year, sequence)
