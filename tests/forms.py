"""Forms the tests fill in, shared by the unit and the end-to-end tests."""

# The residence document extension as a foreign national fills it in: Persian digits and all.
RESIDENCE_FORM = {
    "full_name": "محمد رضايي",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD",
    "document_number": "۱۲۳۴۵۶۷۸",
    "document_expires_on": "۱۴۰۵/۰۹/۰۱",
    "mobile": "۰۹۱۲۱۲۳۴۵۶۷",
    "address": "قزوین، خیابان خیام",
}
