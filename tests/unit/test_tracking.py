import pytest

from ostan_kit.text.tracking import make_code, normalise_code, parse_code


def test_a_code_reads_back():
    code = make_code("FN", 1405, 42)
    assert code.startswith("FN-1405-000042-")
    assert parse_code(code) == ("FN", 1405, 42)


def test_persian_digits_and_lower_case_are_accepted():
    code = make_code("FN", 1405, 42)
    persian = code.lower().translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert normalise_code(persian) == code


def _digit_positions(code: str) -> list[int]:
    return [i for i, ch in enumerate(code) if ch.isdigit()]


@pytest.mark.parametrize("sequence", [1, 42, 99999, 123456])
def test_every_mistyped_digit_is_caught(sequence):
    code = make_code("UR", 1405, sequence)
    for position in _digit_positions(code):
        for digit in "0123456789":
            if digit == code[position]:
                continue
            typo = code[:position] + digit + code[position + 1 :]
            with pytest.raises(ValueError):
                parse_code(typo)


def test_swapped_neighbouring_digits_are_caught():
    code = make_code("PO", 1405, 123456)
    positions = _digit_positions(code)
    for left, right in zip(positions, positions[1:], strict=False):
        if right != left + 1 or code[left] == code[right]:
            continue
        swapped = code[:left] + code[right] + code[left] + code[right + 1 :]
        with pytest.raises(ValueError):
            parse_code(swapped)


@pytest.mark.parametrize("bad", ["", "FN", "FN-1405-42-1", "XX1405000042", "FN-۱۴۰۵"])
def test_malformed_codes_are_refused(bad):
    with pytest.raises(ValueError):
        parse_code(bad)
