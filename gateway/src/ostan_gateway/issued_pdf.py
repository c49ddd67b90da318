"""An issued document (permit, licence, card, certificate) as a PDF: Persian shaped and laid out
right to left by fpdf2 with HarfBuzz (uharfbuzz), the Vazirmatn font the package ships, and a QR
code (segno) to the public verification page."""

from __future__ import annotations

import io
from pathlib import Path

import segno
from fpdf import FPDF

from ostan.common.v1 import issued_pb2
from ostan_kit.text.persian import to_persian_digits

FONTS = Path(__file__).with_name("web") / "static" / "fonts"
KIND_FA = {"permit": "مجوز", "licence": "پروانه", "card": "کارت", "certificate": "گواهی"}
STATE_FA = {"valid": "معتبر", "revoked": "باطل شده", "expired": "منقضی", "not-authentic": "نامعتبر"}


def render_pdf(document: issued_pb2.IssuedDocument, status: issued_pb2.IssuedStatus, verify_url: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(document.title_fa)
    pdf.set_author(document.office_title_fa or document.office)
    pdf.set_subject(document.code)
    pdf.set_creator("Ostan")
    pdf.add_font("Vazirmatn", "", str(FONTS / "Vazirmatn-Regular.ttf"))
    pdf.add_font("Vazirmatn", "B", str(FONTS / "Vazirmatn-Bold.ttf"))
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab", language="fas")
    pdf.set_margins(18, 18, 18)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("Vazirmatn", "", 11)
    pdf.cell(width, 7, "استانداری قزوین", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width, 7, document.office_title_fa or document.office, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Vazirmatn", "B", 17)
    pdf.multi_cell(width, 10, document.title_fa, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    pdf.set_font("Vazirmatn", "", 11)
    rows = [
        ("شماره", document.code),
        ("تاریخ صدور", to_persian_digits(document.issued_at_jalali)),
    ]
    if document.valid_until_jalali:
        rows.append(("معتبر تا", to_persian_digits(document.valid_until_jalali)))
    rows += [(field.label_fa, field.value) for field in document.fields]
    label_width = width * 0.38
    pdf.set_draw_color(150, 150, 150)
    for label, value in rows:
        # Right to left: the label's cell is the right one.
        top = pdf.get_y()
        pdf.set_xy(pdf.l_margin, top)
        pdf.multi_cell(width - label_width, 9, to_persian_digits(value) if value != document.code else value,
                       border=1, align="R", new_x="RIGHT", new_y="TOP")
        pdf.set_font("Vazirmatn", "B", 11)
        pdf.multi_cell(label_width, 9, label, border=1, align="R", new_x="LMARGIN", new_y="NEXT", fill=False)
        pdf.set_font("Vazirmatn", "", 11)
    pdf.ln(6)

    qr = io.BytesIO()
    segno.make(verify_url, error="m").save(qr, kind="png", scale=6, border=2)
    qr.seek(0)
    top = pdf.get_y()
    pdf.image(qr, x=pdf.l_margin, y=top, w=38, h=38)
    pdf.set_xy(pdf.l_margin + 42, top)
    pdf.multi_cell(
        width - 42, 7,
        "برای بررسی اصالت و اعتبار این سند، رمزینه را بخوانید یا نشانی زیر را باز کنید.",
        align="R", new_x="LMARGIN", new_y="NEXT",
    )
    pdf.set_x(pdf.l_margin + 42)
    pdf.set_text_shaping(False)
    pdf.set_font("Vazirmatn", "", 9)
    pdf.multi_cell(width - 42, 6, verify_url, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 42)
    pdf.multi_cell(width - 42, 6, f"Ed25519 key {document.key_id}", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab", language="fas")
    if status.state != "valid":
        pdf.set_xy(pdf.l_margin, top + 44)
        pdf.set_font("Vazirmatn", "B", 14)
        pdf.set_text_color(170, 0, 0)
        pdf.cell(width, 10, f"وضعیت: {STATE_FA.get(status.state, status.state)}", align="R")
    return bytes(pdf.output())
