"""Field kinds a form may use, each a normaliser that raises ValueError with a clear message.

Digits are accepted in Persian, Arabic and ASCII script; text is stored normalised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pycountry

from ostan_kit.text.persian import ascii_digits, format_jalali_date, normalise, parse_jalali_date


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return normalise(value)


def digits(value: Any) -> str:
    result = re.sub(r"[\s\-]", "", ascii_digits(text(value)))
    if not result.isdigit() or not result.isascii():
        raise ValueError("must contain digits only")
    return result


def national_code(value: Any) -> str:
    """An Iranian national code (کد ملی): ten digits, the last a check digit over the first nine."""
    code = digits(value)
    if len(code) != 10:
        raise ValueError("a national code has ten digits")
    if len(set(code)) == 1:
        raise ValueError("not a valid national code")
    total = sum(int(code[i]) * (10 - i) for i in range(9)) % 11
    check = total if total < 2 else 11 - total
    if int(code[9]) != check:
        raise ValueError("the national code's check digit does not match")
    return code


def mobile(value: Any) -> str:
    """An Iranian mobile number as 09xxxxxxxxx; +98 and 0098 prefixes are accepted."""
    number = re.sub(r"[\s\-()]", "", ascii_digits(text(value)))
    number = re.sub(r"^(\+98|0098|98)(?=9\d{9}$)", "0", number)
    if not re.fullmatch(r"09\d{9}", number):
        raise ValueError("a mobile number looks like 09121234567")
    return number


def jalali_date(value: Any) -> str:
    """A Jalali date ``YYYY/MM/DD``, stored zero-padded with ASCII digits."""
    return format_jalali_date(parse_jalali_date(text(value)))


def role(value: Any) -> str:
    """A role's name as tokens carry it: lower-case words joined by hyphens (police-liaison)."""
    name = text(value)
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name):
        raise ValueError("a role's name is lower-case words joined by hyphens, e.g. police-liaison")
    return name


def country(value: Any) -> str:
    """An ISO 3166-1 alpha-3 country code."""
    code = text(value).upper()
    if len(code) != 3 or pycountry.countries.get(alpha_3=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-3 country code, e.g. AFG")
    return code


def enum(value: Any) -> str:
    if not isinstance(value, str) or value.endswith("_UNSPECIFIED"):
        raise ValueError("must be one of the listed values")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        value = digits(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int | str):
        raise ValueError("must be a whole number")
    number = int(value)
    if not -(2**63) <= number < 2**63:  # what a form's int64 and the stored JSON hold exactly
        raise ValueError("is out of range")
    return number


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def texts(value: Any) -> list[str]:
    """A list of texts, each normalised; empty items are dropped."""
    if not isinstance(value, list):
        raise ValueError("must be a list")
    return [item for item in (text(entry) for entry in value) if item]


def national_codes(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("must be a list")
    codes = [national_code(entry) for entry in value]
    if len(set(codes)) != len(codes):
        raise ValueError("a national code is listed twice")
    return codes


def records(value: Any) -> list[dict[str, Any]]:
    """A list of records (its shape is the form message's): their text normalised, digits ASCII."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ValueError("must be a list of records")
    return [{key: text(item) if isinstance(item, str) else item for key, item in entry.items()} for entry in value]


KINDS: dict[str, Callable[[Any], Any]] = {
    "text": text,
    "digits": digits,
    "national-code": national_code,
    "mobile": mobile,
    "jalali-date": jalali_date,
    "country": country,
    "enum": enum,
    "integer": integer,
    "boolean": boolean,
    "texts": texts,
    "national-codes": national_codes,
    "records": records,
    "role": role,
}
