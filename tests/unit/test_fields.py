import pytest

from ostan_kit.processes import fields


def test_a_valid_national_code_in_persian_digits():
    assert fields.national_code("۰۰۸۴۵۷۵۹۴۸") == "0084575948"


@pytest.mark.parametrize("bad", ["0084575949", "1111111111", "12345", "abcdefghij"])
def test_invalid_national_codes(bad):
    with pytest.raises(ValueError):
        fields.national_code(bad)


@pytest.mark.parametrize("raw", ["09121234567", "+98 912 123 4567", "۰۹۱۲۱۲۳۴۵۶۷", "0098-912-123-4567"])
def test_mobile_numbers(raw):
    assert fields.mobile(raw) == "09121234567"


@pytest.mark.parametrize("bad", ["0912123456", "02112345678", "mobile"])
def test_bad_mobile_numbers(bad):
    with pytest.raises(ValueError):
        fields.mobile(bad)


def test_country_codes():
    assert fields.country("afg") == "AFG"
    with pytest.raises(ValueError):
        fields.country("AFGHANISTAN")
    with pytest.raises(ValueError):
        fields.country("XXX")


def test_enum_unspecified_is_missing():
    with pytest.raises(ValueError):
        fields.enum("RESIDENCE_DOCUMENT_TYPE_UNSPECIFIED")


def test_integers_in_any_script():
    assert fields.integer("۱۲") == 12
    assert fields.integer(12.0) == 12
    with pytest.raises(ValueError):
        fields.integer(True)
    assert fields.integer(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(ValueError, match="out of range"):
        fields.integer("۹" * 30)
