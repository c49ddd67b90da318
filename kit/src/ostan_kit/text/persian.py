"""Persian text and the Jalali calendar.

Text is stored normalised (``normalise``) and shown as written; digits in any script are accepted
wherever digits are (``ascii_digits``); instants are stored in UTC and shown on the Jalali
calendar in Asia/Tehran (``to_jalali``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import jdatetime

TEHRAN = ZoneInfo("Asia/Tehran")
ZWNJ = "\u200c"

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_LETTERS = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ك": "ک",
        "ـ": None,  # tatweel
        "\u200f": None,  # right-to-left mark
        "\u200e": None,  # left-to-right mark
        "\u202a": None,
        "\u202b": None,
        "\u202c": None,
        "\u202d": None,
        "\u202e": None,
        "\u2066": None,
        "\u2067": None,
        "\u2068": None,
        "\u2069": None,
        "\ufeff": None,
    }
)
# Folded only for comparison: these letters are right in stored text but often typed otherwise.
_SEARCH_FOLD = str.maketrans({"ئ": "ی", "ۀ": "ه", "ة": "ه", "أ": "ا", "إ": "ا", "ؤ": "و"})
_SPACES = re.compile(r"\s+")
_ZWNJ_RUNS = re.compile(r"[\u200c\u200d]+")


def ascii_digits(text: str) -> str:
    """Persian and Arabic-Indic digits as ASCII digits; nothing else changes."""
    return text.translate(_DIGITS)


_TO_PERSIAN_DIGITS = str.maketrans("0123456789٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶۷۸۹")


def to_persian_digits(text: str) -> str:
    """ASCII and Arabic-Indic digits as Persian digits, for showing; nothing else changes."""
    return str(text).translate(_TO_PERSIAN_DIGITS)


def normalise(text: str) -> str:
    """The stored form of Persian text.

    Arabic ي/ك become Persian ی/ک, digits become ASCII, diacritics, tatweel and direction marks
    go, runs of white space become one space, and a ZWNJ is kept (once) only between two letters.
    """
    text = unicodedata.normalize("NFC", text).translate(_LETTERS).translate(_DIGITS)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = _ZWNJ_RUNS.sub(ZWNJ, text)
    text = re.sub(rf"(?<!\w){ZWNJ}|{ZWNJ}(?!\w)", "", text)
    return _SPACES.sub(" ", text).strip()


def search_key(text: str) -> str:
    """A form for comparing text whatever its variant: normalised, without ZWNJ, case-folded."""
    return normalise(text).translate(_SEARCH_FOLD).replace(ZWNJ, "").replace(" ", "").casefold()


_JALALI_DATE = re.compile(r"^\s*(\d{4})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*$")


def parse_jalali_date(text: str) -> date:
    """A Jalali ``YYYY/MM/DD`` (any digit script, / - or . between) as a Gregorian date."""
    match = _JALALI_DATE.match(ascii_digits(text))
    if not match:
        raise ValueError("expected a Jalali date as YYYY/MM/DD")
    year, month, day = (int(part) for part in match.groups())
    try:
        return jdatetime.date(year, month, day).togregorian()
    except ValueError as error:
        raise ValueError(f"{year:04d}/{month:02d}/{day:02d} is not a Jalali date") from error


def format_jalali_date(value: date) -> str:
    return jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d")


def as_utc(instant: datetime) -> datetime:
    """The instant as an aware UTC datetime; a naive one is taken to be UTC already (SQLite gives
    them back so). OverflowError if UTC cannot hold it (year 1 with a positive offset, say)."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def day_start(day: date) -> datetime:
    """The UTC instant at which ``day`` begins in Tehran."""
    return datetime.combine(day, time(), tzinfo=TEHRAN).astimezone(UTC)


def to_jalali(instant: datetime) -> str:
    """A UTC instant as Jalali date and time in Asia/Tehran, e.g. ``1405/08/30 19:42:05``."""
    local = as_utc(instant).astimezone(TEHRAN)
    return jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y/%m/%d %H:%M:%S")


def jalali_year(instant: datetime) -> int:
    return jdatetime.date.fromgregorian(date=as_utc(instant).astimezone(TEHRAN).date()).year
