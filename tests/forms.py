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

# An NGO's activity licence as its founders apply (card S-03), without its founders' codes, and the
# documents its dossier needs.
NGO_FORM = {
    "name": "انجمن حامیان محیط زیست قزوین",
    "field_of_activity": "محیط زیست",
    "address": "قزوین، خیابان فردوسی",
    "mobile": "09121234567",
    "full_name": "زهرا احمدی",
    "national_code": "0084575948",
}
NGO_DOSSIER = [
    "founders-identity-documents", "founders-degrees", "proposed-charter", "personal-details-forms",
    "founders-assembly-form",
]
