from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostan_kit.text.persian import (
    ZWNJ,
    ascii_digits,
    format_jalali_date,
    jalali_year,
    normalise,
    parse_jalali_date,
    search_key,
    to_jalali,
)

PERSIAN_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"


def test_arabic_letters_become_persian():
    assert normalise("علي كريمي") == "علی کریمی"


def test_digits_of_every_script_become_ascii():
    assert ascii_digits("۱۲۳٤٥٦789") == "123456789"


def test_diacritics_tatweel_direction_marks_and_spaces_go():
    assert normalise("\u200f  سَلامـــ \t\n دنیا  ") == "سلام دنیا"


def test_zwnj_is_kept_once_between_letters_only():
    assert normalise(f"می{ZWNJ}{ZWNJ}شود") == f"می{ZWNJ}شود"
    assert normalise(f"{ZWNJ}سلام{ZWNJ} ") == "سلام"


def test_letters_that_are_right_in_stored_text_stay():
    assert normalise("مسئول خانۀ") == "مسئول خانۀ"


def test_search_key_ignores_zwnj_arabic_letters_and_digit_script():
    assert search_key("سرمایه‌گذاری ۱۴۰۲") == search_key("سرمايهگذاري 1402")


@given(st.text())
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once


@given(st.text(alphabet=PERSIAN_LETTERS + " ۰۱۲۳۴۵۶۷۸۹", min_size=1))
def test_search_key_is_the_same_for_every_variant(text):
    variant = (
        text.replace("ی", "ي").replace("ک", "ك").translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩"))
    )
    with_zwnj = text.replace(" ", ZWNJ)
    assert search_key(text) == search_key(variant) == search_key(with_zwnj)


def test_jalali_dates_in_any_script_and_separator():
    assert parse_jalali_date("۱۴۰۵/۰۱/۰۱") == date(2026, 3, 21)
    assert parse_jalali_date("1405-1-1") == date(2026, 3, 21)
    assert format_jalali_date(date(2026, 3, 21)) == "1405/01/01"


@pytest.mark.parametrize("bad", ["", "1405/13/01", "1405/12/31", "14050101", "امروز"])
def test_bad_jalali_dates_are_refused(bad):
    with pytest.raises(ValueError):
        parse_jalali_date(bad)


def test_instants_are_shown_in_tehran_on_the_jalali_calendar():
    # 2026-03-20 21:00 UTC is 00:30 of 1 Farvardin 1405 in Tehran (UTC+03:30).
    instant = datetime(2026, 3, 20, 21, 0, tzinfo=UTC)
    assert to_jalali(instant) == "1405/01/01 00:30:00"
    assert jalali_year(instant) == 1405
