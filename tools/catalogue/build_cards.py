"""Build catalogue entries from the process, procedure and service identity cards of seeds 000,
002, 003 and 004.

Run:  .venv/bin/python tools/catalogue/build_cards.py [OUT]    (OUT defaults to the repository)

The seeds are read from ``<repo>/../shared/seeds``.  Each card is located by its form title
(«فرم شناسنامه فرایندهای / روش های اجرایی / خدمات …»), each field by its printed label (with the
OCR variants the seed notes list), and every fact keeps the 1-based line range it was read from.
Readings the text alone cannot settle (ticks whose owner is ambiguous, rows shifted onto the wrong
label, §8 agency tables scrambled by the extraction, 002's right-to-left reversal) come from the
explicit override tables near the end of this file; each override cites the seed-note section
that decoded it.  Nothing is invented: where a card is silent or says "--", the field stays empty.
Procedure and service cards are tied to the process card of the same seed they belong to
(``part_of``, PART_OF table).

Output: services/<service>/src/ostan_<service>/catalogue/cards-00N.yaml
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / ".." / "shared" / "seeds"
sys.path.insert(0, str(REPO / "kit" / "src"))

from ostan_kit.catalogue.entries import CatalogueFile  # noqa: E402
from ostan_kit.text.persian import ZWNJ, ascii_digits, search_key  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Seeds and their cards (IDs and order as the seed notes name them)
# ---------------------------------------------------------------------------------------------

SEED_FILES = {
    "000": "000_cb3009ac738305d0.txt",
    "002": "002_b1c0085b937be169.txt",
    "003": "003_c79cbfcf67e88507.txt",
    "004": "004_caf8303e97a26e04.txt",
}

ORG = {  # seed -> (deputy, office, hosting service, output file)
    "000": ("political-security-social", "social-cultural", "social", "services/social/src/ostan_social/catalogue/cards-000.yaml"),
    "002": ("political-security-social", "security-law-enforcement", "political", "services/political/src/ostan_political/catalogue/cards-002.yaml"),
    "003": ("civil-affairs", "urban-councils", "urban", "services/urban/src/ostan_urban/catalogue/cards-003.yaml"),
    "004": ("governor-domain", "performance-inspection-legal-pr", "governor", "services/governor/src/ostan_governor/catalogue/cards-004.yaml"),
}

# Card IDs in file order (000-004.md §2; 002.md §1 "Card order in the file"; 003.md §1).
CARD_IDS = {
    "000": [f"S-0{i}" for i in range(1, 10)],
    "002": [f"P{i:02d}" for i in range(1, 14)] + ["S1", "S2"] + [f"P{i:02d}" for i in range(14, 28)],
    "003": ["P1", "P2", "P3", "S1", "P4", "P5", "P6", "S2", "P7", "P8", "S3", "P9", "P10", "S4",
            "P11", "P12", "P13", "P14", "P15", "P16"],
    "004": [f"G-0{i}" for i in range(1, 8)],
}

# ---------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------

TICKS = "\uf0fe\uf052■☑"  # 002 private-use ticks (002.md §2.3); ■ in S-02 (000-004.md §4)
CHECKED = "\u2611"  # internal marker for a checked HTML box
UNCHECKED = "\u2610"
TAG = re.compile(r"<[^>]+>")
ARABIC = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ـ": None})


def plain(line: str) -> str:
    """A seed line with HTML checkboxes as ☑/☐, other tags dropped, Arabic letters made Persian."""
    line = re.sub(r'<input checked="" type="checkbox"/>', f" {CHECKED} ", line)
    line = re.sub(r'<input type="checkbox"/>', f" {UNCHECKED} ", line)
    line = TAG.sub(" ", line)
    return line.translate(ARABIC)


def reverse_chunks(line: str) -> str:
    """002 is extracted visually left to right: runs separated by 2+ spaces come out reversed."""
    chunks = [c.strip() for c in re.split(r"\s{2,}", line.strip()) if c.strip()]
    return "  ".join(reversed(chunks))


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


ZWNJ_WORDS = {
    # compounds and stems the source writes without ZWNJ (000-004.md §4, 002.md §6.1, 001 notes)
    "مردم نهاد": f"مردم{ZWNJ}نهاد",
    "آسیبهای": f"آسیب{ZWNJ}های",
    "آسیبها": f"آسیب{ZWNJ}ها",
    "سازمانهای": f"سازمان{ZWNJ}های",
    "سازمانها": f"سازمان{ZWNJ}ها",
    "برنامههای": f"برنامه{ZWNJ}های",
    "روشها": f"روش{ZWNJ}ها",
    "تماسهای": f"تماس{ZWNJ}های",
    "فعالیتهای": f"فعالیت{ZWNJ}های",
}


def restore_zwnj(text: str) -> str:
    """Put back the ZWNJ the extraction lost, in the usual Persian positions only."""
    for plain_form, joined in ZWNJ_WORDS.items():
        text = text.replace(plain_form, joined)
    text = re.sub(r"(?<=\S) (ها|های|هایی|هایی)(?=$|[\s،؛:.()\-])", ZWNJ + r"\1", text)
    text = re.sub(r"(?<=ه)(ها|های)(?=$|[\s،؛:.()\-])", ZWNJ + r"\1", text)  # دستگاههای
    text = re.sub(r"(?<=ی)(ها|های)(?=$|[\s،؛:.()\-])", ZWNJ + r"\1", text)  # شهرداریها
    text = re.sub(r"(?:(?<=^)|(?<=[\s(]))(ن?می) (?=\S)", r"\1" + ZWNJ, text)
    return text


def fa(text: str) -> str:
    """Persian value for the catalogue: tags/ticks gone, ی/ک Persian, ZWNJ restored."""
    text = plain(text)
    for ch in TICKS + CHECKED + UNCHECKED + "□":
        text = text.replace(ch, " ")
    return restore_zwnj(squash(text)).strip(" :-–ـ")


def key(text: str) -> str:
    """Comparison key: ZWNJ, ی/ي, ک/ك, diacritics, digit script and white space ignored."""
    return search_key(plain(text))


EMPTY = re.compile(r"^[\s\-–ـ.:]*$")


def is_empty(text: str) -> bool:
    return bool(EMPTY.match(text))


# ---------------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------------

FORM = re.compile(r"فرم\s*شناسنامه\s*(فرایند|روش|خدمات)")


@dataclass
class Card:
    seed: str
    card_id: str
    kind: str
    start: int  # 1-based, inclusive
    end: int
    raw: list[str]  # the whole seed, 0-based
    items: dict = field(default_factory=dict)

    @property
    def file(self) -> str:
        return SEED_FILES[self.seed]

    def line(self, n: int) -> str:
        text = self.raw[n - 1]
        return reverse_chunks(plain(text)) if self.seed == "002" else plain(text)

    def numbers(self):
        return range(self.start, self.end + 1)

    def src(self, a: int, b: int | None = None) -> dict:
        return {"seed": self.file, "line_start": a, "line_end": b or a}

    def find(self, pattern: str, after: int | None = None, before: int | None = None) -> int | None:
        """First line of the card whose squashed text matches ``pattern``."""
        rx = re.compile(pattern)
        for n in self.numbers():
            if after and n <= after or before and n >= before:
                continue
            if rx.search(squash(self.line(n))) or rx.search(squash(plain(self.raw[n - 1]))):
                return n
        return None

    def locate(self, needle: str) -> tuple[int, int]:
        """Lines of the card holding ``needle`` (compared by key, first words if need be)."""
        words = fa(needle).replace(ZWNJ, " ").split()
        for size in (len(words), 6, 4, 3, 2, 1):
            probe = key(" ".join(words[:size]))
            if not probe:
                continue
            for n in self.numbers():
                if probe in key(self.raw[n - 1]) or probe in key(self.line(n)):
                    return n, n
        return self.start, self.end


def split_cards(seed: str) -> list[Card]:
    raw = (SEEDS / SEED_FILES[seed]).read_text(encoding="utf-8").split("\n")
    starts = []
    for i, text in enumerate(raw, 1):
        match = FORM.search(plain(text))
        if match:
            kind = {"فرایند": "process", "روش": "procedure", "خدمات": "service-card"}[match.group(1)]
            starts.append((i, kind))
    ids = CARD_IDS[seed]
    assert len(starts) == len(ids), (seed, len(starts), len(ids))
    cards = []
    for index, ((start, kind), card_id) in enumerate(zip(starts, ids, strict=False)):
        end = starts[index + 1][0] - 1 if index + 1 < len(starts) else len(raw)
        while end > start and not raw[end - 1].strip():
            end -= 1
        cards.append(Card(seed, card_id, kind, start, end, raw))
    return cards


# ---------------------------------------------------------------------------------------------
# Labels (000-004.md §1.2, 002.md §2, 003.md §2 list the labels and their OCR variants)
# ---------------------------------------------------------------------------------------------

LABELS = {
    "title": r"عنوان\s*(فرایند|روش\s*اجرایی|خدمت)\s*:",
    "id": r"شناسه\s*(فرایند|روش)",
    "date": r"تاریخ\s*:",
    "owner": r"مالک\s*(فرایند|روش)|ارائه\s*کننده\s*(فرایند|روش)",
    "agency": r"نام\s*دستگاه\s*اجرایی",
    "unit": r"نام\s*(مرکز|دفتر)|اداره\s*کل\s*/",
    "section5": r"مشخصات\s*(فرایند|روش|خدمت)",
    "goal": r"هدف\s*(فرایند|روش\s*اجرایی)",
    "type": r"نوع\s*(فرایند|روش\s*اجرایی|خدمت)|^نوع$",
    "recipients": r"(^|:)\s*(خدمت|خدمات)\s*گیرندگان\s*(:|$)|مخاطبین",
    "nature": r"ماهیت\s*(فرایند|روش\s*اجرایی|خدمت)",
    "levels": r"سطح\s*(فرایند|روش\s*اجرایی|خدمت)",
    "event": r"رویداد\s*مرتبط|با\s*رویداد",
    "triggers": r"نحوه\s*آغاز",
    "outputs": r"خروجی\s*(فرایند|روش)",
    "documents": r"انجام\s*فرایند\s*(مدارک|مدرک)\s*لازم\s*برای|(مدارک|مدرک)\s*لازم(\s*برای\s*انجام\s*(فرایند|روش\s*اجرایی|خدمت))?\s*:?",
    "laws": r"قوانین\s*و\s*مقررات\s*(بالادستی|:)",
    "forms": r"^فرمها|فرمها\s*:|:\s*فرمها|فرمهای\s*داخلی",
    "web": r"آدرس\s*دقیق(.*?بخشی\s*از\s*آن\s*:?)?|وبگاه\s*در\s*صورت.*?بخشی\s*از\s*آن(آدرس\s*دقیق.*?در)?",
    "system": r"نام\s*سامانه\s*مربوط(.*?بخشی\s*از\s*آن\s*:?)?",
    "access": r"نحوه\s*دسترسی",
    "stages": r"(مراحل|مرحل|مرحله|مراسم)\s*فرایند\s*(نوع|$)|نوع\s*ارائه",
    "sec7": r"نام\s*سامانه\s*های\s*دیگر|سایر\s*سامانه|همان\s*دستگاه",
    "sec8": r"نام\s*دستگاه\s*دیگر|ارتباط\s*فرایند\s*با\s*سایر\s*دستگاه",
    "steps": r"(عناوین|معاونین|معاون)\s*(گام|کام)|عنوان\s*کارهای|گام\s*های\s*(فرایند|روش)",
    "description": r"شرح\s*خدمت",
    "details": r"آمار\s*تعداد|متوسط\s*مدت|تواتر|تعداد\s*بار|هزینه\s*ارایه",
}
ANY_LABEL = re.compile("|".join(f"(?:{p})" for p in LABELS.values()))
LABEL_RX = {name: re.compile(p) for name, p in LABELS.items()}
JUNK = re.compile(r"^[\d۰-۹\s\-–ـ.()]*$|^(ت|ت فرایند|مشخصا|ت خدم|خدم|جزییا|گیرندگان|\(ورودی ها\))$")


def cells(card: Card, n: int) -> list[str]:
    text = card.line(n)
    parts = re.split(r"\t+" if card.seed != "002" else r"\s{2,}", text)
    return [squash(p) for p in parts if squash(p)]


def label_line(card: Card, name: str, after: int | None = None, before: int | None = None) -> int | None:
    rx = LABEL_RX[name]
    for n in card.numbers():
        if after and n <= after or before and n >= before:
            continue
        if any(rx.search(c) for c in cells(card, n)):
            return n
    return None


def strip_label(cell: str, rx: re.Pattern) -> str:
    match = rx.search(cell)
    rest = cell[: match.start()] + " " + cell[match.end():]
    return squash(rest).strip(" :-–ـ")


def text_field(card: Card, name: str, continuation: bool = True) -> tuple[str, int, int] | None:
    """The value printed at a label: same cell, a label-free cell of the same line, or the next
    label-free line(s) (values printed after their label in the flattened tables)."""
    n = label_line(card, name)
    if n is None:
        return None
    rx = LABEL_RX[name]
    row = cells(card, n)
    value = ""
    for c in row:
        if rx.search(c):
            value = strip_label(c, rx)
            break
    if is_empty(value):
        free = [c for c in row if not ANY_LABEL.search(c) and not is_empty(c)]
        value = " ".join(free)
    first = last = n
    if is_empty(value) and card.seed != "002":
        for m in (n - 1, n + 1):  # value printed in a label-free cell of a neighbouring line
            if card.start < m <= card.end:
                free = [c for c in cells(card, m) if not ANY_LABEL.search(c) and not is_empty(c)
                        and CHECKED not in c and UNCHECKED not in c and "<" not in c]
                if free and not any(ANY_LABEL.search(c) and not LABEL_RX["section5"].search(c) and not LABEL_RX["owner"].search(c)
                                    for c in cells(card, m)) or (free and m == n + 1 and LABEL_RX["section5"].search(" ".join(cells(card, m)))):
                    value, first, last = " ".join(free), min(n, m), max(n, m)
                    return (value, first, last) if not is_empty(value) else None
    if is_empty(value) or continuation:
        m = n + 1
        while m <= card.end:
            row = cells(card, m)
            if not row:
                m += 1
                if card.seed == "002":
                    continue
                break
            if any(ANY_LABEL.search(c) for c in row) or CHECKED in card.line(m) or UNCHECKED in card.line(m):
                if is_empty(value):
                    free = [c for c in row if not ANY_LABEL.search(c) and not is_empty(c)
                            and CHECKED not in c and UNCHECKED not in c]
                    if free and m == n + 1 and card.seed == "004":
                        value, last = " ".join(free), m
                break
            if not is_empty(value) and card.seed != "002":
                break
            extra = " ".join(c for c in row if not JUNK.match(c))
            if extra:
                value = (value + " " + extra).strip()
                last = m
            m += 1
    value = value.strip()
    if is_empty(value) or re.fullmatch(r"[-–ـ.\s]+", value):
        return None
    return value, first, last


# ---------------------------------------------------------------------------------------------
# Ticks
# ---------------------------------------------------------------------------------------------

TYPE_OPTIONS = [(r"مدیریتی", "managerial"), (r"پشتیبانی", "support"),
                (r"اختصاصی", "core-exclusive"), (r"مشترک", "core-shared")]
TRIGGER_OPTIONS = [(r"تقاضا", "recipient-request"), (r"فرا\s*رسیدن|فرارسیدن", "scheduled"),
                   (r"رخداد|حداد", "event"), (r"تشخیص", "agency-decision"), (r"سایر|^پر:", "other")]
LEVEL_OPTIONS = [(r"ملی", "national"), (r"منطقه\s*ای", "regional"), (r"استانی", "provincial"), (r"ستادی", "hq"),
                 (r"شهرستانی", "county"), (r"شهری", "urban"), (r"روستایی", "rural")]
NATURE_OPTIONS = [(r"حاکمیتی", "sovereign"), (r"تصدی", "operational")]
# service cards only (002.md §2.2 3b/3f, 003.md §2.2 3c/3f); «تولید» is 003 S3's OCR of «تولد»
SERVICE_TYPE_OPTIONS = [(r"G2C|شهروندان", "g2c"), (r"G2B|کسب\s*و\s*کار", "g2b"), (r"G2G|دستگاه", "g2g")]
LIFE_EVENT_OPTIONS = [(r"^تولی?د", "birth"), (r"آموزش", "education"), (r"سلامت", "health"), (r"مالیات", "tax"),
                      (r"کسب\s*و\s*کار", "business"), (r"تامین\s*اجتماعی", "social-security"),
                      (r"ثبت\s*مالکیت", "property-registration"), (r"تاسیسات\s*شهری", "urban-utilities"),
                      (r"بیمه", "insurance"), (r"ازدواج", "marriage"), (r"بازنشستگی", "retirement"),
                      (r"مدارک|گواهینامه", "documents-certificates"), (r"وفات", "death"), (r"سایر", "other")]


def html_ticks(text: str, options, box_after: bool = False) -> list[str]:
    """Checked options of a line with HTML boxes; a box belongs to the label after it
    (or before it when ``box_after``: S-03, S-05, S-06 print «label ☐», 000-004.md §4)."""
    tokens = re.split(f"([{CHECKED}{UNCHECKED}])", text)
    found = []
    for i, tok in enumerate(tokens):
        if tok != CHECKED:
            continue
        label = tokens[i - 1] if box_after else (tokens[i + 1] if i + 1 < len(tokens) else "")
        for rx, value in options:
            if re.search(rx, label.strip()) and value not in found:
                found.append(value)
                break
    return found


def pua_ticks(raw: str, options, label_before: bool = False) -> list[str]:
    """002: a tick belongs to the label right after it in the extracted line (process cards) or
    right before it (service cards), 002.md §2.3."""
    found = []
    for match in re.finditer("[\uf0fe\uf052]", raw):
        if label_before:
            segment = re.split(r"\s{2,}", raw[: match.start()].rstrip())[-1]
        else:
            segment = re.split(r"\s{2,}", raw[match.end():].lstrip())[0]
        segment = segment.translate(ARABIC)
        for rx, value in options:
            if re.search(rx, segment) and value not in found:
                found.append(value)
                break
    return found


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------

NUMBERED = re.compile(r"(?:^|\s)[-–ـ]?\s*([0-9۰-۹]{1,2})\s*[-–ـ)]\s+")
BRANCH = re.compile(r"^(?:[-–]\s*)?((?:الف|ب|پ|ت|ج|د)(?:\s*-\s*[0-9۰-۹])?)\s*[-–:]?\s*(.*)$")


def split_numbered(text: str) -> list[str]:
    """«- ۱- a ۲- b» → [a, b]; text without numbers stays whole."""
    text = re.sub(r"</?p>", " ", text)
    marks = list(NUMBERED.finditer(" " + text))
    if not marks:
        return [text]
    parts = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text) + 1
        parts.append((" " + text)[m.end():end])
    return [p for p in parts if not is_empty(p)]


def parse_steps(card: Card, first: int, last: int, skip: set[int]) -> list[dict]:
    steps, branch = [], ""
    for n in range(first, last + 1):
        if n in skip:
            continue
        raw = card.raw[n - 1]
        if card.seed == "002":
            text = fa(reverse_chunks(plain(raw)))
            text = re.sub(r"^[-–ـ.\s]+|[-–ـ.\s]+$", "", text)
            text = re.sub(r"^[0-9]+\s*|\s*[0-9]+$", "", text).strip(" ـ.-")
            if (is_empty(text) or ANY_LABEL.search(text) or JUNK.match(text)
                    or re.fullmatch(r"(فرایند|روش اجرایی|عناوین گام های|گام های)", text)):
                continue
            steps.append({"text": text, "branch": "", "n": n})
            continue
        text = plain(raw)
        if ANY_LABEL.search(text) and not re.search(r"عناوین|گام|کام|کارهای", text):
            continue
        text = re.sub(r"۹-\s*(عناوین|معاونین|معاون)\s*(گام|کام)\s*های\s*(فرایند|روش اجرائی|روش اجرایی)", " ", text)
        text = re.sub(r"۹-\s*عنوان کارهای\s*(فرایند|روش اجرایی)", " ", text)
        for cell in re.split(r"\t+|</p>\s*<p>", text):
            cell = squash(re.sub(r"</?p>", " ", cell))
            if is_empty(cell) or ANY_LABEL.search(cell) or CHECKED in cell or UNCHECKED in cell:
                continue
            head = BRANCH.match(cell.lstrip("- "))
            if head and not NUMBERED.match(" " + cell.lstrip()) and len(cell) < 90 and not re.match(r"^[-–]\s*[0-9۰-۹]", cell):
                branch = fa(cell).strip()
                continue
            if not NUMBERED.search(" " + cell) and len(cell) < 60 and not steps:
                branch = fa(cell).strip()  # a heading before the first numbered step
                continue
            for part in split_numbered(cell):
                part = fa(part)
                if not is_empty(part):
                    steps.append({"text": part, "branch": branch, "n": n})
    out = []
    for i, s in enumerate(steps, 1):
        out.append({"order": i, "text": s["text"], "branch": s["branch"],
                    "source": card.src(s["n"])})
    return out


# ---------------------------------------------------------------------------------------------
# Lists, laws
# ---------------------------------------------------------------------------------------------


def split_items(text: str) -> list[str]:
    parts = []
    for chunk in split_numbered(text):
        for piece in re.split(r"\s+-\s+|؛|\s-(?=\S)|(?<=\S)-\s", chunk):
            piece = fa(piece)
            if not is_empty(piece) and piece not in ("--", "---"):
                parts.append(piece)
    return parts


DATE = re.compile(r"(?<![0-9/])([0-9]{2,4}/[0-9]{1,2}/[0-9]{1,2}|[0-9]{1,2} (?:فروردین|اردیبهشت|خرداد|تیر|مرداد|شهریور|مهر|آبان|آذر|دی|بهمن|اسفند) [0-9]{2,4}|(?<=مصوب هیأت وزیران )[0-9]{4})")
LAWNO = re.compile(r"(?:شماره|بشماره)\s*([0-9][0-9/تهـ]*[0-9هـ])|(?:مصوبه|ابلاغیه شماره)\s+([0-9]+)")
ARTICLE = re.compile(r"(ماده\s*[0-9]+|اصل\s*[0-9]+|بند\s*\"?\S+\"?\s*تبصره\s*[0-9]+)")


def law(card: Card, text: str, a: int, b: int) -> dict:
    digits = ascii_digits(text)
    number = LAWNO.search(digits)
    date = DATE.search(digits)
    article = ARTICLE.search(digits)
    return {"title": text,
            "number": (number.group(1) or number.group(2)) if number else "",
            "date_jalali": date.group(1) if date else "",
            "article": article.group(1) if article else "",
            "source": card.src(a, b)}


# ---------------------------------------------------------------------------------------------
# Service cards: «جزییات خدمت» and «نحوه دسترسی به خدمت» (002.md §2.2 §4-5, 003.md §2.2 §4-5)
# ---------------------------------------------------------------------------------------------

SERVICE_RX = {
    "description": r"شرح\s*خدمت",
    "recipients_count": r"آمار\s*تعداد\s*خدمت\s*گیرندگان",
    "average_duration": r"متوسط\s*مدت\s*زمان\s*ارا[یئ]ه(\s*خدمت)?",
    "frequency": r"تواتر",
    "in_person_visits": r"تعداد\s*بار\s*مراجعه\s*حضوری",
    "fees": r"هزینه\s*ارا[یئ]ه\s*خدمت",
}
CHANNELS = r"اینترنتی|پست\s*الکترونیک|تلفن\s*گویا|تلفن\s*همراه|پیام\s*کوتاه|دفاتر\s*ارائه\s*خدمت|سایر"
SERVICE_STOP = re.compile("|".join(SERVICE_RX.values()) + "|" + ANY_LABEL.pattern + r"|(?:اینترنتی|پیام\s*کوتاه)\s*:")
LABEL_TAIL = re.compile(r"^:?\s*خدمت\s*:?$")  # 002: «…ارایه» / «:خدمت», a label wrapped onto two lines
PLACEHOLDER = re.compile(r"(?:\.\s*){2,}\.|…|[☑☐]")
FEE_HEADERS = re.compile(r"\(?\s*ریال\s*\)?|به\s*خدمت\s*گیرندگان\s*:?|مبلغ\s*\(\s*مبالغ\s*\)"
                         r"|شماره\s*حساب\s*\(\s*های\s*\)\s*بانکی|پرداخت\s*بصورت\s*الکترونیک")
PERIODS = [(r"^\s*روز", "روز"), (r"^\s*ماه", "ماه"), (r"^\s*فصل", "فصل"), (r"^\s*سال", "سال")]
ONCE = r"یکبار\s*برای\s*همیشه"


def reading_line(card: Card, n: int) -> str:
    """A line in reading order with every tick as ☑ (002's private-use ticks too, 002.md §2.3:
    on service cards the tick comes right before its label in reading order)."""
    return re.sub("[\uf0fe\uf052]", f" {CHECKED} ", card.line(n))


def service_label(card: Card, name: str) -> int | None:
    rx = re.compile(SERVICE_RX[name])
    return next((n for n in card.numbers() if rx.search(squash(reading_line(card, n)))), None)


def end_stop(text: str) -> str:
    """002's leading full stop (the sentence end, printed first by the reversal) put back at the end."""
    return text[1:].strip() + "." if text.startswith(".") else text


def clean(text: str) -> str:
    """A cell value without placeholders («...», «. . .») or boxes."""
    text = end_stop(squash(PLACEHOLDER.sub(" ", text)))
    return "" if is_empty(text) else fa(text)


def same_line_value(card: Card, n: int, name: str, decode) -> tuple[str, bool]:
    """The rest of the label's cell, then the cells after it until one decodes to a value or a
    label comes; the flag says whether the line ended without either."""
    row = [c for c in re.split(r"\t+" if card.seed != "002" else r"\s{2,}", reading_line(card, n)) if c.strip()]
    first = next(i for i, c in enumerate(row) if re.search(SERVICE_RX[name], squash(c)))
    cell = squash(row[first])
    value = cell[re.search(SERVICE_RX[name], cell).end():]
    for following in [""] + row[first + 1:]:
        value = squash(f"{value} {following}")
        stop = SERVICE_STOP.search(value)
        if stop:
            return value[: stop.start()], False
        if decode(value):
            return value, False
    return value, True


def raw_value(card: Card, name: str, decode) -> tuple[str, int, int] | None:
    """The printed text of a service-card field, boxes kept: on the label's line, or, when the
    label ends its line, on the following label-free line(s) (all of them in 002, whose values
    wrap; one elsewhere)."""
    n = service_label(card, name)
    if n is None:
        return None
    value, open_ended = same_line_value(card, n, name, decode)
    last = n
    for m in range(n + 1, card.end + 1 if open_ended else n + 1):
        text = squash(reading_line(card, m))
        if not text or LABEL_TAIL.match(text):
            continue
        if SERVICE_STOP.search(text) or re.search(CHANNELS, text):
            break
        value, last = f"{value} {text}" if card.seed != "002" else f"{value} {clean(text)}", m
        if card.seed != "002":
            break
    return value, n, last


def decode_count(text: str) -> str:
    """«N خدمت گیرندگان در: ☐ روز ☐ ماه ☑ سال» → «N در سال» (the count as printed, the ticked period)."""
    count = clean(re.split(r"خدمت\s*گیرندگان", text)[0])
    period = html_ticks(text, PERIODS)
    return f"{count} در {period[0]}" if count and period else count


def decode_frequency(text: str) -> str:
    """«☐ یکبار برای همیشه  N بار در: ☐ ماه ☐ فصل ☐ سال» → the ticked option, or N [بار در period]."""
    if re.search(f"{CHECKED}\\s*{ONCE}", text):
        return "یکبار برای همیشه"
    parts = re.split(r"بار\s*در", re.split(ONCE, text)[-1], maxsplit=1)
    times = clean(parts[0])
    period = html_ticks(parts[1], PERIODS) if len(parts) > 1 else []
    return f"{times} بار در {period[0]}" if times and period else times


def decode_fee(text: str) -> str:
    return clean(FEE_HEADERS.sub(" ", text))


DECODE = {"description": clean, "recipients_count": decode_count, "average_duration": clean,
          "frequency": decode_frequency, "in_person_visits": clean, "fees": decode_fee}


def service_details(card: Card) -> tuple[dict, dict]:
    """The scalar fields of «مشخصات / جزییات خدمت» and the fee items, with their sources."""
    shifted = SHIFTED.get((card.seed, card.card_id), {})
    values, prov = {}, {}
    for name, decode in DECODE.items():
        if name in shifted:
            value = shifted[name]
            a, b = card.locate(value) if value else (0, 0)
        else:
            found = raw_value(card, name, decode)
            value, a, b = (decode(found[0]), found[1], found[2]) if found else ("", 0, 0)
        if not value:
            continue
        if name == "fees":
            values[name] = [{"text": value, "source": card.src(a, b)}]
        else:
            values[name], prov[name] = value, card.src(a, b)
    return values, prov


def access_channels(card: Card) -> list[dict]:
    """The ticked channels of «نحوه دسترسی به خدمت» with any text filled in beside them.  003 prints
    each box after its channel («پست الکترونیک: ☐», 003.md §3 S2); 002's boxes were lost and
    only the «سایر» text survives, read from ACCESS_002."""
    if card.seed == "002":
        text, needle = ACCESS_002[card.card_id]
        return [{"text": text, "source": card.src(*card.locate(needle))}]
    items = []
    for n in card.numbers():
        tokens = re.split(f"([{CHECKED}{UNCHECKED}])", plain(card.raw[n - 1]))
        for i, token in enumerate(tokens[1:], 1):
            label = fa(tokens[i - 1])
            if token == CHECKED and re.match(CHANNELS, label):
                items.append({"text": label, "source": card.src(n)})
    return items


def part_of(card: Card, cards: dict[str, Card], parent_title: str) -> dict | None:
    """The process card a procedure or service card belongs to (PART_OF); for a service card
    whose «عنوان فرایند» names that process, the method says how closely the titles agree."""
    link = PART_OF.get((card.seed, card.card_id))
    if not link:
        return None
    parent_id, method = link
    title = title_of(cards[parent_id])[0]
    if method is None:
        if key(parent_title) == key(title):
            how = "equal to its title once normalised"
        elif key(title).startswith(key(parent_title)):
            how = f"the start of its title «{title}»"
        else:
            how = f"not its title «{title}»"
        method = (f"the card's «عنوان فرایند» «{parent_title}» is {how}, and the card is printed right "
                  f"after process card {parent_id} (003.md §3)")
    return {"slug": f"card-{card.seed}-{parent_id.lower()}", "method": method}


# ---------------------------------------------------------------------------------------------
# Override tables.  Each one holds only what the text cannot give reliably, with the seed-note
# section that decoded it.
# ---------------------------------------------------------------------------------------------

# English titles are not in the seeds: 000-004.md §2, 002.md §1/§3, 003.md §1.
TITLE_EN = {
    ("000", "S-01"): "Coordination and supervision of safeguarding public security and citizens' rights",
    ("000", "S-02"): "Holding special social and cultural occasions",
    ("000", "S-03"): "Issuing activity licences for NGOs at the governorate",
    ("000", "S-04"): "Coordination and supervision of programmes to prevent, reduce and control social harms",
    ("000", "S-05"): "Running the affairs of the Social and Cultural Working Group",
    ("000", "S-06"): "Running the affairs of the Commission for Promoting Social and Moral Security",
    ("000", "S-07"): "Addressing the situation of special patients",
    ("000", "S-08"): "Supervising and evaluating the executive and financial performance of NGOs",
    ("000", "S-09"): "Coordination and supervision of social-cultural programmes in informal settlements and special zones",
    ("002", "P01"): "Commission for Order and Security at Sports Competitions",
    ("002", "P02"): "Provincial Commission Supervising the Use of Pyrotechnic Materials",
    ("002", "P03"): "Managing the Arbaeen Headquarters",
    ("002", "P04"): "Commission Supervising Weapons and Ammunition",
    ("002", "P05"): "Committee for Preventing Firearm Use at Ceremonies and Occasions",
    ("002", "P06"): "Provincial Election Security Committee",
    ("002", "P07"): "Working Group on Security and Policing in Unforeseen Disasters",
    ("002", "P08"): "Commission for Review and Action on Organised Crime",
    ("002", "P09"): "Cyberspace Security Commission",
    ("002", "P10"): "Supervising the Article 2 Commission on mine and explosive contact cases in war zones",
    ("002", "P11"): "Collecting and analysing provincial news, intelligence and security reports (variant 1)",
    ("002", "P12"): "Internal Security Information Council",
    ("002", "P13"): "Holding meetings of the Provincial Security Council",
    ("002", "S1"): "Paying compensation for damage caused by security incidents",
    ("002", "S2"): "Commission granting letters of amnesty (aman-nameh)",
    ("002", "P14"): "Supervising the implementation of security plans",
    ("002", "P15"): "Supervision and control of sects and deviant groups",
    ("002", "P16"): "Sub-committee of the Council for Sustainable Development and Security of the East and West",
    ("002", "P17"): "Clearance and Demining Commission",
    ("002", "P18"): "Supervising movement of persons in prohibited border zones",
    ("002", "P19"): "Organising the province's land-border entry and exit points",
    ("002", "P20"): "Border Security and Development Commission",
    ("002", "P21"): "Commission for Preventing and Countering Forgery of Official Documents",
    ("002", "P22"): "Commission for Preventing and Countering Theft",
    ("002", "P23"): "Collecting and analysing security and law-enforcement news and reports (variant 2)",
    ("002", "P24"): "Provincial Water-Resources Protection Sub-committee",
    ("002", "P25"): "Resolving security or law-enforcement disputes between provincial executive agencies",
    ("002", "P26"): "Security of foreign tourists and tourist destinations",
    ("002", "P27"): "Exam Protection Commission",
    ("003", "P1"): "Supervision of municipalities' organisational structure and personnel affairs",
    ("003", "P2"): "Training of mayors, municipal staff and city Islamic council members",
    ("003", "P3"): "Appointment of mayors",
    ("003", "S1"): "Review and confirmation of the mayor's decree",
    ("003", "P4"): "Review and confirmation of local levies passed by the city council",
    ("003", "P5"): "Supervision of the budgets of municipalities and their affiliated organisations",
    ("003", "P6"): "Review of audit reports of municipalities and affiliated organisations",
    ("003", "S2"): "Issuing the permit required for auditing municipalities",
    ("003", "P7"): "Provision of facilities, equipment and service/construction machinery",
    ("003", "P8"): "Grading of municipalities (grade determination and upgrade)",
    ("003", "S3"): "Municipality grading (grade determination and upgrade)",
    ("003", "P9"): "Supervision and performance evaluation of municipalities",
    ("003", "P10"): "Review, approval and supervision of municipalities' study and research projects",
    ("003", "S4"): "Issuing permits for research and study work",
    ("003", "P11"): "Review and supervision of creating organisations affiliated to municipalities",
    ("003", "P12"): "Running the secretariat of the Article 79 Dispute-Resolution Board of the Councils Law",
    ("003", "P13"): "Steering municipalities' statistics and IT",
    ("003", "P14"): "Distribution and supervision of allocated credits",
    ("003", "P15"): "Supervision of private-sector investment in urban waste management",
    ("003", "P16"): "Review and supervision of the implementation of municipalities' strategic-operational plans",
    ("004", "G-01"): "Coordinating and scheduling the governor's programme (audiences, correspondence, phone calls, meetings)",
    ("004", "G-02"): "Coordinating and following up the governor's office affairs (audiences, correspondence, phone calls)",
    ("004", "G-03"): "Communications, publicity and information dissemination",
    ("004", "G-04"): "Collecting information, news and important events; dissemination",
    ("004", "G-05"): "News coverage and interviews",
    ("004", "G-06"): "Protocol affairs and coordination of national and international interactions and cooperation",
    ("004", "G-07"): "Carrying out protocol affairs",
}

# 002 is extracted visually left to right and its title cells wrap across lines, sometimes with
# words glued out of order («خسارات ناشی از حوادث امنیتیپرداخت»).  The titles below are the
# printed words in reading order, as 002.md §3 (card headings) and §1 (list) put them back;
# the script checks that every word of each title is printed in the card's title lines.
TITLE_002 = {
    "P01": "انجام امورکمیسیون نظم و امنیت در مسابقات ورزشی",
    "P02": "انجام امورکمیسیون نظارت بر مصرف مواد ناریه استان",
    "P03": "مدیریت ستاد اربعین حسینی (ع)",
    "P04": "انجام امورکمیسیون نظارت برسلاح ومهمات",
    "P05": "انجام امورکمیته پیشگیری از کاربرد سلاح گرم در مراسمات و مناسبات",
    "P06": "انجام امور کمیته امنیت انتخابات استان",
    "P07": "کارگروه امنیت و انتظامات حوادث غیر مترقبه",
    "P08": "انجام امور کمیسیون بررسی و اقدام درخصوص جرائم سازمان یافته",
    "P09": "انجام امور کمیسیون امنیت فضاهای مجازی",
    "P10": "نظارت بر کمیسیون ماده دو بررسی موارد برخورد با مین و مواد منفجره در مناطق جنگی",
    "P11": "جمع آوری و تجزیه و تحلیل اخبار و اطلاعات استان و گزارشات امنیتی و انتظامی",
    "P12": "انجام امور شورای اطلاع رسانی امنیت داخلی",
    "P13": "برگزاری جلسات شورای تأمین",
    "S1": "پرداخت خسارات ناشی از حوادث امنیتی",
    "S2": "کمیسیون اعطای امان نامه",
    "P14": "نظارت بر اجرای طرح های امنیتی",
    "P15": "نظارت و کنترل فرق و گروه های انحرافی",
    "P16": "انجام امور کمیته فرعی شورای توسعه و امنیت پایدار شرق و غرب کشور",
    "P17": "کمیسیون پاکسازی و مین روبی",
    "P18": "نظارت تردد افراد در مناطق ممنوعه مرزی",
    "P19": "ساماندهی مبادی ورودی و خروجی مرزهای زمینی استان",
    "P20": "انجام امور کمیسیون امنیت و عمران مرز",
    "P21": "انجام امور کمیسیون پیشگیری و مقابله با جعل اسناد و مدارک رسمی",
    "P22": "انجام امور کمیسیون پیشگیری و مقابله با سرقت",
    "P23": "جمع آوری و تجزیه و تحلیل اخبار و گزارشات امنیتی و انتظامی",
    "P24": "انجام امور کمیته فرعی حفاظت از منابع آب استان",
    "P25": "حل اختلاف بین دستگاه های اجرایی استان با ماهیت امنیتی و انتظامی",
    "P26": "تامین امنیت گردشگران خارجی و مقصدهای گردشگری",
    "P27": "انجام امور کمیسیون حفاظت از آزمونها",
}

# Tick readings the positions alone cannot settle.  value None = the tick cannot be attributed
# (field left empty, an "ambiguous" discrepancy is recorded).
TICKS_OVERRIDE = {
    # 000-004.md §2 S-02: «مشترک (■)», a black square inside the brackets, read as shared (?)
    ("000", "S-02"): {"process_types": (["core-shared"], "ambiguous")},
    # S-03, S-05, S-06 print «label ☐» (box after label), 000-004.md §2 and §4
    ("000", "S-03"): {"process_types": (["core-shared"], "ambiguous"), "triggers": (["recipient-request"], None)},
    ("000", "S-05"): {"process_types": (["core-shared"], "ambiguous")},
    ("000", "S-06"): {"process_types": (["core-shared"], "ambiguous")},
    # 003.md §3: ticks sitting between two labels
    ("003", "P4"): {"process_types": (None, "ambiguous")},
    ("003", "P5"): {"process_types": (["core-exclusive"], "ambiguous"), "triggers": (["scheduled", "agency-decision"], "shifted-flags")},
    ("003", "P7"): {"process_types": (["core-exclusive"], "ambiguous")},
    ("003", "P11"): {"process_types": (None, "ambiguous")},
    ("003", "P13"): {"process_types": (["core-shared"], "ambiguous")},
    ("003", "S1"): {"levels": (["provincial"], "shifted-flags"), "triggers": (["event", "agency-decision"], "shifted-flags"),
                    "nature": ("sovereign", None)},
    ("003", "S3"): {"levels": (["urban"], "ambiguous"), "triggers": (["recipient-request"], None)},
    # 003.md §3 P5, P10: «label ☐» order in the type and trigger rows
    ("003", "P10"): {"process_types": (["core-exclusive"], None), "triggers": (["recipient-request"], None)},
    # 000-004.md §2 G-01: six level cells, labels duplicated by OCR (ملی, استانی, استانی, روستایی, شهری, استانی)
    ("004", "G-01"): {"levels": (["national", "provincial", "rural", "urban"], "ambiguous")},
    ("004", "G-03"): {"levels": (["provincial", "hq"], None)},
    # 002.md §3: readings of ticks that sit between labels
    ("002", "P07"): {"triggers": (["scheduled", "recipient-request"], "ambiguous")},
    ("002", "P10"): {"triggers": (None, "ambiguous")},
    ("002", "P26"): {"triggers": (None, "ambiguous")},
    # S1/S2: G2C ticked, a second tick at the start of the G2G line, both probably ticked (?);
    # S1's level tick sits between استانی and منطقه‌ای, S2's between منطقه‌ای and ملی (002.md §3 S1, S2)
    ("002", "S1"): {"levels": (["provincial"], "ambiguous"), "triggers": (["event"], "ambiguous"),
                    "service_types": (["g2c", "g2g"], "ambiguous")},
    ("002", "S2"): {"levels": (["regional"], "ambiguous"), "triggers": (["event"], "ambiguous"),
                    "service_types": (["g2c", "g2g"], "ambiguous")},
}

# Stage tables the rows of which do not line up with the four stages.
STAGES_OVERRIDE = {
    # 000-004.md §2 G-01: 8 flattened rows, one box each; read as E+NE in every stage (likely)
    ("004", "G-01"): {"inform": (True, True), "start": (True, True), "process": (True, True), "deliver": (True, True)},
    # 000-004.md §2 G-04: labels only, no boxes
    ("004", "G-04"): {},
    # 003.md §3 P3: five NE rows, all four stages NE
    ("003", "P3"): {"inform": (False, True), "start": (False, True), "process": (False, True), "deliver": (False, True)},
    # 003.md §3 P13: labels only, no ticks
    ("003", "P13"): {},
    # 003.md §3 P16: five rows; inform E, start none, process NE, deliver NE (mapping uncertain)
    ("003", "P16"): {"inform": (True, False), "process": (False, True), "deliver": (False, True)},
    # 003.md §3 P8: cells interleaved
    # 000-004.md §2 S-03: «الکترونیکی ☑» in every stage (box after label), fully electronic
    ("000", "S-03"): {"inform": (True, False), "start": (True, False), "process": (True, False), "deliver": (True, False)},
    # 003.md §3 P5: all four electronic (label-then-box order)
    ("003", "P5"): {"inform": (True, False), "start": (True, False), "process": (True, False), "deliver": (True, False)},
    ("003", "P8"): {"inform": (True, False), "start": (True, False), "process": (True, True), "deliver": (False, True)},
}

# §7/§8 tables: the extraction scrambles their columns in every seed, so each card's agencies
# are listed here as the seed notes decoded them; the script finds the line printing each name.
# (agency, systems, exchanged fields, inquiry modes, inquiry by, internal)
A = tuple
AGENCIES = {
    # 000-004.md §2, per card "Sec 7 / Sec 8"
    ("000", "S-01"): [A(("کلیه دستگاههای اجرایی", "", "", [], "", False)), A(("فرمانداریها", "", "", [], "", False))],
    ("000", "S-02"): [A(("فرمانداریها", "", "", [], "agency", False)), A(("شهرداری", "", "", [], "agency", False)),
                      A(("ارشاد", "", "", [], "agency", False)), A(("تبلیغات", "", "", [], "agency", False))],
    ("000", "S-05"): [A(("کلیه دستگاههای اجرایی عضو کارگروه", "", "", [], "", False))],
    ("000", "S-06"): [A(("استانداری", "سامانه فرزین", "تبادل مکاتبات داخلی", [], "", True)),
                      A(("اداره کل امور اجتماعی و فرهنگی", "شبکه دولت و شبکه فرزین", "مکاتبات اداری", [], "", False))],
    ("000", "S-07"): [A(("دانشگاه علوم پزشکی", "", "", [], "", False)), A(("معاونت بهداشتی", "", "", [], "", False)),
                      A(("معاونت دارو و درمان", "", "", [], "", False)), A(("موسسه های غیردولتی", "", "", [], "", False)),
                      A(("انجمنهای خیریه", "", "", [], "", False))],
    ("000", "S-09"): [A(("استانداری", "اینترنت - سامانه مکاتبات", "", [], "", True)),
                      A(("کلیه دستگاه های عضو", "", "", [], "", False))],
    # 000-004.md §2 G-01 .. G-07
    ("004", "G-01"): [A(("ریاست جمهوری", "شبکه دولت", "مکاتبات، دستورات استاندار محترم برای پیگیری، گزارشات، صورتجلسات، درخواست جلسه و بازدیدها", ["online"], "", False)),
                      A(("وزارتخانه ها و وزارت کشور", "سیستم برید", "", ["online"], "", False)),
                      A(("سایر دستگاه های اجرایی", "شبکه دولت", "", ["online"], "", False)),
                      A(("فرمانداری ها", "ECE", "", ["batch"], "", False))],
    ("004", "G-02"): [A(("ریاست جمهوری", "شبکه دولت", "مکاتبات، دستورات استاندار برای پیگیری نامه ها و انجام ملاقات ها", ["online"], "agency", False)),
                      A(("وزارتخانه ها و وزارت کشور", "سیستم برید", "", ["online"], "agency", False)),
                      A(("سایر دستگاه های اجرایی", "شبکه دولت", "", ["online"], "agency", False)),
                      A(("فرمانداری ها", "ECE", "", ["online"], "agency", False))],
    ("004", "G-03"): [A(("استانداری", "", "اطلاعات و اخبار", [], "", True)),
                      A(("فرمانداری ها", "Khorasan.ir", "اطلاعات و اخبار", [], "", False)),
                      A(("پورتال وزارت کشور", "moi.ir", "اطلاعات و اخبار", [], "", False))],
    ("004", "G-06"): [A(("وزارت کشور", "شبکه دولت", "مکاتبات مربوطه", [], "", False)),
                      A(("وزارت امور خارجه", "شبکه دولت", "مکاتبات مربوطه", [], "", False)),
                      A(("نهاد ریاست جمهوری", "شبکه دولت", "مجوز سفرهای خارجی", [], "", False))],
    ("004", "G-07"): [A(("وزارت کشور", "شبکه دولت", "مکاتبات مربوطه", [], "", False)),
                      A(("وزارت امور خارجه", "شبکه دولت", "مکاتبات مربوطه", [], "", False)),
                      A(("نهاد ریاست جمهوری", "شبکه دولت", "مجوز سفرهای خارجی", [], "", False))],
    # 003.md §3: only P6 and P7 name counterparts (P13 ticks batch/applicant with no agency)
    ("003", "P6"): [A(("شهرداری", "", "", [], "", False)), A(("سازمان شهرداریها و دهیاریهای کشور", "", "", [], "", False))],
    ("003", "P7"): [A(("سازمان شهرداری ها", "", "", [], "", False)), A(("مدیریت بحران", "", "", [], "", False))],
}
_P04 = ["اطلاعات", "فا.ا استان", "سپاه", "دادستانی", "صدا و سیما", "مرزبانی", "ارتش"]
_NSA = ["ناجا", "سپاه", "اطلاعات"]
AGENCIES_002 = {  # 002.md §3 "§8 agencies" rows (names as printed, 002.md §6.2 typos kept)
    "P01": ["ورزش و جوانان", "سپاه", "اطلاعات", "انتظامی", "ارشاداسلامی", "شهرداریها", "هلل احمر", "علوم پزشکی",
            "اورزانس", "ارتش", "دادگستری", "اداره کل تعاون", "فدراسیون وهیاتهای ورزشی"],
    "P02": ["سپاه", "اطلاعات", "انتظامی", "ساحفاجا در استان"],
    "P03": ["استانداری", "نماینده ولی فقیه", "حج و اوقاف", "راهداری و حمل و نقل جاده ای", "علوم پزشکی", "شهرداری",
            "هلال احمر", "اطلاعات", "ناجا", "سپاه", "صدا و سیما"],
    "P04": _P04, "P05": _P04, "P06": _P04, "P07": _P04,
    "P08": ["اطلاعات", "ناجا", "سپاه", "انتظامی"],
    "P09": ["ناجا", "سپاه", "اطلاعات", "صدا و سیما", "دادگستری", "مخابرات", "صنعت و معدن"],
    "P10": ["فرمانداری ها", "بنیاد شهید", "سپاه"],
    "P11": _NSA + ["فرمانداری ها"],
    "P12": ["ناجا", "سپاه", "اطلاعات", "صدا و سیما", "ارتش", "دادگستری", "مخابرات"],
    "P13": ["اعضای شورای تأمین"],
    "P14": ["اطلاعات", "سپاه", "انتظامی", "اعضای شورای تأمین استان"],
    "P15": ["سپاه", "انتظامی", "اطلاعات", "سابر اعضاء کمیسیون"],
    "P16": ["دستگاه های اجرایی مسئول در امور زیربنایی", "مراجع قضایی، امنیتی و انتظامی"],
    "P17": ["مدیریت مین زدایی استان", "سپاه", "مرزبانی"],
    "P18": ["مراکز امنیتی و انتظامی", "نظامی و غیره"],
    "P19": _NSA, "P20": _NSA,
    "P21": ["دادگستری", "ثبت احوال", "ثبت اسناد"],
    "P22": _NSA, "P23": _NSA,
    "P24": ["شرکت آب منطقه ای", "آبفا شهری و روستایی"],
    "P25": ["موارد خاص (حسب مورد)"],
    "P26": ["ناجا", "اطلاعات", "سپاه"],
    "P27": ["ناجا", "اطلاعات", "مرکز حفاظت آزمونها"],
}
# inquiry-by ticks of 002: only P04 ticks «مراجعه کننده» (002.md §5.3 item 13)
INQUIRY_BY_002 = {"P04": "applicant"}
# 002 cards whose «غیرالکترونیکی» is written in the §8 cells (002.md §3): inquiry mode non-electronic
NONELEC_002 = {"P07", "P09", "P10", "P11", "P12"}

# Rows printed one row away from their label (003.md §3 "[shifted]", 000-004.md §2): the values
# below are the decoded field, and the discrepancy is recorded.  (field, value) pairs.
SHIFTED = {
    ("003", "P5"): {"outputs": "ثبت و بررسی و تایید بودجه مصوب شهرداری در سامانه مربوطه",
                    "documents": "بخشنامه ها[ی] سالانه وزارت کشور و سازمان شهرداریها",
                    "laws": "ممنوعیت تصویب بودجه مغایر با ضوابط فرمهای ابلاغی", "forms": ""},
    ("003", "P7"): {"outputs": "مجهز شدن شهرداری ها به آخرین امکانات و تجهیزات و ماشین آلات",
                    "documents": "درخواست شهرداری و بررسی وضعیت موجود", "laws": "قانون بودجه شهرداری ها", "forms": ""},
    ("003", "P8"): {"outputs": "مجوز ارتقا درجه", "documents": "تکمیل فرمهای مربوطه"},
    ("003", "P11"): {"outputs": "ایجاد سازمان جدید", "documents": "پیشنهاد شهرداری"},
    ("003", "P13"): {"outputs": "الکترونیکی نمودن امور جاری شهرداری ایجاد بستر سخت افزاری و نرم افزاری در شهرداری",
                     "documents": "", "laws": "رعایت استانداردهای سیستم های شهرسازی، عمران، فنی، مالی، عوارض، بودجه ریزی و اداری",
                     "forms": "فرمهای مربوط به عناوین فوق الاشاره"},
    # 003.md §3 S1: every row from «نحوه آغاز» down sits one or two labels too low
    ("003", "S1"): {"documents": "مصوبه شورای اسلامی شهر و ارائه پیشنهاد شهردار ، ارائه فرمهای تکمیل شده به همراه مدارک شناسایی و تحویلی و ...",
                    "average_duration": "بنا به مدت زمان دریافت پاسخ استعلامات از مراجع ذیصلاح و روند صدور حکم از سوی استانداری",
                    "frequency": "یکبار برای همیشه", "recipients_count": "", "in_person_visits": "", "fees": ""},
    ("000", "S-09"): {"forms": "فرم صورتجلسه"},
    ("004", "G-07"): {"goal": "رعایت شان و منزلت مهمانان داخلی و خارجی"},
}
TRIGGER_NOTE = {  # free text of «سایر» / «رخداد …», found in the card by these words
    ("002", "P01"): "فرارسیدن زمانی مشخص ودر صورت لزوم بر حسب ضرورت و فوق العاده",
    ("002", "P02"): "فرارسیدن زمانی مشخص ودر صورت لزوم بر حسب ضرورت و فوق العاده",
    ("003", "S1"): "برکناری یا استعفا شهردار وقت",
    ("004", "G-03"): "تمام موارد در تجمیع فرایندها ممکن است",
    ("004", "G-04"): "به صورت روزانه تمامی اخبار رسانه های استان و شبکه ها و سایت های خبری بازدید گردد",
    ("004", "G-06"): "انتخاب مشهد بعنوان پایتخت فرهنگی جهان اسلام ۲۰۱۷",
    ("004", "G-07"): "انتخاب مشهد بعنوان پایتخت فرهنگی جهان اسلام ۲۰۱۷",
}
# Parent process printed on service cards («عنوان فرایند»), 002.md §3 S1/S2, 003.md §3
PARENT = {("002", "S1"): "شورای تامین استان", ("002", "S2"): "شورای تامین استان"}

# 002's «سایر» access text in reading order (the extraction glues the wrapped words out of order;
# 002.md §3 S1/S2 "Access, «سایر»"), as printed, typos kept: (text, words locating the line)
ACCESS_002 = {
    "S1": ("سایر: اعلام مراتب و نحوه خدمات بصورت مکتوب و در قالب صورتجلسات تنظمی و ا بلاغ می گیردد", "اعلام مراتب و نحوه خدمات"),
    "S2": ("سایر: کلیه خدمات و طرح ها غیرالکترونیکی و بصورت مکاتبه ای انجام می شود", "کلیه خدمات و طرح ها"),
}

# The process card a procedure or service card belongs to: (parent card, method); a None method
# is computed from the card's «عنوان فرایند» and the parent's title.
_IMPLIED = "implied by topic and position in the file, 000-004.md §1.1"
_SECURITY_COUNCIL = ("the card's «عنوان فرایند» names the council «شورای تامین استان», not a process; P13 «برگزاری جلسات "
                     "شورای تأمین» is the only card of the file about that council and the service cards are printed right "
                     "after it (002.md §1 card order); likely, not stated")
PART_OF = {
    # 000-004.md §1.1: G-02 ⊂ G-01, G-04 and G-05 ⊂ G-03, G-07 ⊂ G-06
    ("004", "G-02"): ("G-01", _IMPLIED), ("004", "G-04"): ("G-03", _IMPLIED),
    ("004", "G-05"): ("G-03", _IMPLIED), ("004", "G-07"): ("G-06", _IMPLIED),
    # 003.md §3: S1 under P3, S2 under P6, S3 under P8, S4 under P10
    ("003", "S1"): ("P3", None), ("003", "S2"): ("P6", None), ("003", "S3"): ("P8", None), ("003", "S4"): ("P10", None),
    # 002.md §2.2 item 2, §3 P13
    ("002", "S1"): ("P13", _SECURITY_COUNCIL), ("002", "S2"): ("P13", _SECURITY_COUNCIL),
}

# Booklet rows a card describes (001-partA.md §2, 001-partB.md §1.2 row numbers).  The booklet
# title is quoted as printed; the method is computed: equal normalised titles, else topical.
DESCRIBES = {
    ("000", "S-03"): ("social-cultural-02", "تسهیل روند صدور پروانه های فعالیت برای سازمان های مردم نهاد استان", "NGO activity licence"),
    ("000", "S-04"): ("social-cultural-19", "راهبری و تسهیل کنترل و کاهش آسیبهای اجتماعی (برگزاری کمیته مبارزه با مشروبات الکلی)", "control and reduction of social harms"),
    ("000", "S-05"): ("social-cultural-14", "راهبری و نظارت بر کارگروه اجتماعی، فرهنگی، سلامت، بانوان و خانواده", "the provincial social-cultural working group"),
    ("000", "S-08"): ("social-cultural-01", "نظارت و ارزیابی عملکرد سازمان های مردم نهاد استانی", "supervising and evaluating NGO performance"),
    ("000", "S-09"): ("social-cultural-17", "نظارت بر اجرای برنامههای ساماندهی امور اجتماعی و فرهنگی مناطق ویژهی اجتماعی و سکونتگاههای غیررسمی", "social-cultural programmes of special zones and informal settlements"),
    ("002", "P02"): ("security-law-enforcement-09", "نظارت و صدور مجوز مواد ناریه صنعتی و تجاری", "supervision of pyrotechnic/explosive materials"),
    ("002", "P13"): ("security-law-enforcement-04", "راهبری و نظارت بر اجرای مصوبات شورای تامین استان و شهرستانها", "the provincial security council and its resolutions"),
    ("002", "S1"): ("security-law-enforcement-01", "پرداخت خسارت ناشی از حوادث امنیتی در استان", "compensation for damage from security incidents"),
    ("002", "P27"): ("security-law-enforcement-11", "برگزاری و راهبری کمیسیون حفاظت از آزمون", "the exam-protection commission"),
    ("003", "P1"): ("urban-councils-01", "تأیید اولیه اصلاح ساختار سازمانی شهرداریهای کشور", "municipal organisational structure (chart)"),
    ("003", "P2"): ("urban-councils-35", "آموزش شهرداران و شوراهای با آیین نامهها و دستورالعملها", "training of mayors and councils"),
    ("003", "P3"): ("urban-councils-07", "تأیید حکم شهرداران (شهرهای کمتر از 200 هزار نفر)", "mayors' appointment decrees"),
    ("003", "S1"): ("urban-councils-07", "تأیید حکم شهرداران (شهرهای کمتر از 200 هزار نفر)", "mayors' appointment decrees"),
    ("003", "P4"): ("urban-councils-02", "تأیید عوارض محلی مصوب شوراهای شهر", "local levies passed by city councils"),
    ("003", "P5"): ("urban-councils-06", "تأیید بودجه شهرداریها", "municipal budgets"),
    ("003", "P6"): ("urban-councils-04", "تأیید گزارش حسابرسی شهرداریها و سازمانهای وابسته و دهیاریها", "audit reports of municipalities and affiliated organisations"),
    ("003", "S2"): ("urban-councils-03", "تأیید حکم حسابرس معرفی شده توسط شورای اسلامی شهر", "the auditor chosen by the city council"),
    ("003", "P7"): ("urban-councils-05", "تامین تجهیزات و ماشین آلات شهرداریها", "equipment and machinery for municipalities"),
    ("003", "P8"): ("urban-councils-08", "تأیید مدارک مورد نیاز ارتقا درجه شهرداریها", "municipal grade upgrade"),
    ("003", "S3"): ("urban-councils-08", "تأیید مدارک مورد نیاز ارتقا درجه شهرداریها", "municipal grade upgrade"),
    ("003", "P9"): ("urban-councils-33", "ارزیابی عملکرد شهرداریها و دهیاریها (مشترک)", "municipal performance evaluation; row 20 (supervision, expert teams) is a close alternative"),
    ("003", "P10"): ("urban-councils-24", "راهبری شورای پژوهش مدیریت شهری و روستایی", "the urban & rural management research council"),
    ("003", "S4"): ("urban-councils-24", "راهبری شورای پژوهش مدیریت شهری و روستایی", "research permits of the research council"),
    ("003", "P11"): ("urban-councils-15", "تایید اساسنامه سازمان های وابسته به شهرداری", "statutes of municipality-affiliated organisations"),
    ("003", "P12"): ("urban-councils-17", "پیگیری موضوعات کاری ارجاعی به دبیرخانه هیات حل اختلاف شوراها موضوع بند (2) ماده 90 قانون شوراها (اصرار اعضای شورا به اجرای مصوبه)",
                     "secretariat of the councils' dispute-resolution board on a council insisting on its resolution; the card cites Article 79, the booklet Article 90(2); row 18 is the same board's other branch"),
    ("003", "P13"): ("urban-councils-25", "راهبری شهرداری الکترونیک در استان", "municipal e-government / IT"),
    ("003", "P15"): ("urban-councils-10", "نظارت بر سرمایهگذاری بخش خصوصی در حوزههای پسماند استان", "private investment in waste management"),
}

# Defects of the source per card (from the seed notes; the section is named in each text).
# (kind, field, description, needle locating the line or None for the card's first line)
DEFECTS = {
    ("000", "S-01"): [("ambiguous", "laws", "000-004.md §2 S-01: whether the laws cell is one item or two (مصوبه ۴۲۷ … / دستور العمل …) is unclear", "مصوبه ۴۲۷")],
    ("000", "S-02"): [("scrambled-table", "agencies", "000-004.md §2 S-02: §7/§8 garbled; «دستگاه ■ مراجعه کننده» read as inquiry by the agency (?)", "دستگاه ■"),
                      ("typo", "laws", "«سیو پنجمین» for «سی و پنجمین» (000-004.md §4)", "سیو پنجمین")],
    ("000", "S-03"): [("ambiguous", "agencies", "000-004.md §2 S-03: «استعلام توسط: ☐ دستگاه ☑ مراجعه کننده ☐» repeated 5×; box placement ambiguous, inquiry_by left empty", "استعلام توسط"),
                      ("typo", "title_fa", "«استناداری» printed for «استانداری» in the title (000-004.md §4)", "عنوان فرایند"),
                      ("malformed-id", "web_addresses", "web-address label printed with a stray «۱-» (000-004.md §2 S-03)", "آدرس دقیق")],
    ("000", "S-04"): [("shifted-flags", "triggers", "the second trigger line is printed in the output row (000-004.md §2 S-04)", "خروجی فرایند")],
    ("000", "S-05"): [("typo", "agencies", "«میلغ» printed for «مبلغ» (000-004.md §2 S-05)", "میلغ")],
    ("000", "S-06"): [("malformed-id", "electronic", "section 6 printed «۱- نحوه دسترسی» (000-004.md §2 S-06)", "نحوه دسترسی"),
                      ("ambiguous", "steps", "orphan step list (collecting and organising persons) after S-06 and before S-07; it may belong to S-06 or to a missing card (000-004.md §2); not included in the steps", "جمع آوری و نگهداری افراد")],
    ("000", "S-07"): [("scrambled-table", "agencies", "«دانشگاه علوم پزشکی» printed in §7, NGOs and charities in the «systems» column of §8: all read as counterpart agencies (000-004.md §2 S-07)", "دانشگاه علوم پزشکی")],
    ("000", "S-08"): [("shifted-flags", "triggers", "the last two trigger options are printed in the output row (000-004.md §2 S-08)", "خروجی فرایند"),
                      ("typo", "agencies", "«استعلام» OCR'd as «استفاده» (000-004.md §2 S-08)", "استفاده")],
    ("000", "S-09"): [("shifted-flags", "forms", "«فرم صورتجلسه» is printed at the end of the laws cell; read as the forms value (000-004.md §2 S-09)", "فرم صورتجلسه"),
                      ("missing-rows", "office", "the «۴- مالک فرایند» label is absent; agency and unit values are present (000-004.md §2 S-09)", "نام مرکز")],
    ("004", "G-01"): [("shifted-flags", "electronic", "stage table flattened into 8 rows with misaligned labels; read as electronic and non-electronic in every stage (likely, 000-004.md §2 G-01)", "مراسم فرایند"),
                      ("typo", "electronic", "«مراسم فرایند» for «مراحل فرایند»; «صورتحل» for «صورتجلسه» (000-004.md §4)", "مراسم فرایند"),
                      ("typo", "title_fa", "«استنادار» printed for «استاندار» in the title (000-004.md §4)", "عنوان فرایند"),
                      ("contradiction", "agencies", "فرمانداری‌ها/ECE is batch here but online in G-02 (000-004.md §4)", "ECE")],
    ("004", "G-02"): [("contradiction", "steps", "public audiences once every two weeks here, every Monday in G-01 (000-004.md §4)", "دو هفته"),
                      ("other", "documents", "the required-documents cell holds items numbered ۶–۹ copied from an output list (000-004.md §2 G-02)", "مدارک لازم"),
                      ("missing-rows", "agencies", "the §8 table has a duplicate ریاست جمهوری row, not repeated here (000-004.md §2 G-02)", "ریاست جمهوری")],
    ("004", "G-03"): [("other", "steps", "leftover editorial instruction «(روش اجرایی هریک از قسمت های «الف» تا «د» به صورت صحیح نوشته شود.)» (000-004.md §2 G-03)", "به صورت صحیح نوشته شود"),
                      ("other", "documents", "the required-documents items are preconditions, not documents (000-004.md §1.2)", "مدارک لازم")],
    ("004", "G-04"): [("missing-rows", "electronic", "stage table has labels only, no boxes and no medium (000-004.md §2 G-04)", "اطلاع رسانی فرایند"),
                      ("shifted-flags", "triggers", "the output row carries the overflow of the trigger boxes (000-004.md §2 G-04)", "خروجی"),
                      ("typo", "laws", "«(نصری)», meaning unknown (000-004.md §2 G-04)", "نصری")],
    ("004", "G-05"): [("shifted-flags", "triggers", "the last two trigger options are printed in the output row (000-004.md §2 G-05)", "خروجی"),
                      ("typo", "documents", "«تئور» probably for «تنویر»; the item reads like an output (000-004.md §2 G-05)", "تئور"),
                      ("other", "steps", "steps ب-1 to ب-3 are printed twice (000-004.md §2 G-05)", None)],
    ("004", "G-06"): [("missing-rows", "steps", "fragments of two headerless procedure cards (lines 354–360: foreign delegations; foreign trips numbered 7–12) are not included (000-004.md §2 G-06)", "هماهنگی با نمایندگی وزارت امور خارجه"),
                      ("scrambled-table", "agencies", "§8 printed twice, the first copy with shuffled columns (000-004.md §2 G-06)", "نهاد ریاست جمهوری"),
                      ("other", "triggers", "«سایر: دستورات صادره» has text although its box is unchecked (000-004.md §2 G-06)", "دستورات صادره")],
    ("004", "G-07"): [("shifted-flags", "goal", "the goal is printed in the «۴- ارائه کننده روش اجرایی» slot; the «هدف روش اجرایی» label that follows is empty (000-004.md §2 G-07)", "رعایت شان"),
                      ("other", "triggers", "«سایر: دستورات صادره» has text although its box is unchecked (000-004.md §2 G-07)", "دستورات صادره")],
    ("003", "P2"): [("contradiction", "electronic", "processing ticked electronic while its medium says in-person supervision (003.md §6)", "نظارت حضوری"),
                    ("missing-rows", "steps", "step 7 is truncated («نظارت و پایش روند اجرای») (003.md §3 P2)", "نظارت و پایش")],
    ("003", "P3"): [("shifted-flags", "electronic", "five NE stage rows for four stages; inquiries printed as delivery (003.md §3 P3)", "گرفتن استعلامات")],
    ("003", "P4"): [("typo", "agencies", "«استعلام» OCR'd as «استعمال» (003.md §3 P4)", "استعمال"),
                    ("malformed-id", "provenance", "ID/date cell garbled «2- شناسه فرایند: 1396/4/20 - 3 تاریخ:» (003.md §3 P4)", "شناسه فرایند")],
    ("003", "P5"): [("shifted-flags", "outputs", "output/documents/laws printed one row down (003.md §3 P5); decoded values used", "ثبت و بررسی"),
                    ("missing-rows", "steps", "steps incomplete; reviewer note asks the office to enter the full steps (003.md §3 P5)", "توضیحات")],
    ("003", "P6"): [("other", "laws", "the laws cell holds procedure («درخواست شهرداری از شورای اسلامی شهر و تعیین حسابرس رسمی») (003.md §6)", "تعیین حسابرس"),
                    ("typo", "steps", "«شورای اسلامی شهردار» for «شورای اسلامی شهر» (003.md §6)", "شهردار"),
                    ("scrambled-table", "agencies", "IMO printed in the «systems» column of §8; read as a second agency (003.md §3 P6)", "سازمان شهرداریها")],
    ("003", "P7"): [("shifted-flags", "outputs", "output/documents/laws printed one row down (003.md §3 P7); decoded values used", "مجهز شدن")],
    ("003", "P8"): [("shifted-flags", "outputs", "output and documents share one line after the trigger overflow (003.md §3 P8)", "مجوز ارتقا")],
    ("003", "P11"): [("shifted-flags", "outputs", "output and documents share the documents line (003.md §3 P11)", "ایجاد سازمان جدید"),
                     ("contradiction", "recipients", "recipients identical to P10 (copy-paste suspect) (003.md §3 P11)", "دهیارها")],
    ("003", "P12"): [("contradiction", "triggers", "trigger is set time / agency determination although the process is referral-driven (003.md §6)", "نحوه آغاز")],
    ("003", "P13"): [("shifted-flags", "outputs", "documents/laws/forms printed one row off (003.md §3 P13)", "الکترونیکی نمودن"),
                     ("other", "steps", "the steps are a list of municipal systems, not a procedure (003.md §3 P13)", None),
                     ("ambiguous", "agencies", "§8 ticks batch and inquiry by the applicant with no agency named (003.md §3 P13)", "دسته ای")],
    ("003", "P14"): [("typo", "steps", "«تفریح بودجه» for «تفریغ بودجه» (003.md §6)", "تفریح"),
                     ("shifted-flags", "goal", "each value is printed in the cell before its label (003.md §3 P14)", "هدف فرایند")],
    ("003", "P16"): [("other", "steps", "the steps are a SWOT-study abstract, not a procedure (003.md §3 P16)", "SWOT")],
    ("003", "S1"): [("shifted-flags", "documents", "service card heavily row-shifted; values re-mapped by position (003.md §3 S1)", "تواتر"),
                    ("contradiction", "title_fa", "index title «بررسی و تایید احکام شهرداران», card title «بررسی و تأیید حکم شهردار» (003.md §6)", "عنوان خدمت")],
    ("003", "S2"): [("contradiction", "frequency", "frequency «یکبار برای همیشه» but 58 recipients per year (003.md §6)", "سال")],
    ("003", "S3"): [("typo", "other", "«تولید» for «تولد», «تصدی گیری» for «تصدی گری» (003.md §6)", "تولید")],
    ("003", "S4"): [("ambiguous", "access_channels", "one access box is ticked between «پست الکترونیک» and «تلفن گویا یا مرکز تماس»; "
                     "read with the box after its label (003.md §3 S2) as email, which the process card's use of email favours (003.md §3 S4)", "پست الکترونیک"),
                    ("other", "life_events", "the «سایر» life event is specified as «پژوهش» (research); the schema keeps no text for it (003.md §3 S4)", "سایر - پژوهش")],
    ("002", "P04"): [("ambiguous", "agencies", "the only inquiry-by tick in the file sits next to «مراجعه کننده» (applicant), odd for an internal commission (002.md §5.3)", "مراجعه کننده")],
    ("002", "P05"): [("contradiction", "steps", "near copy of P04 (002.md §6.3)", None)],
    ("002", "P06"): [("contradiction", "steps", "title says committee (کمیته), steps say HQ (ستاد) (002.md §3 P06)", "ستاد")],
    ("002", "P08"): [("contradiction", "laws", "the organised-crime card cites the theft-prevention document (002.md §6.3)", "سرقت")],
    ("002", "P11"): [("contradiction", "title_fa", "the news/reports process has two different cards (P11 and P23); P11 is not in the top list (002.md §1)", None)],
    ("002", "P16"): [("shifted-flags", "documents", "documents cell holds overflow of the output text (002.md §3 P16)", "ضروری")],
    ("002", "P23"): [("contradiction", "steps", "second card of the same process as P11, with fewer steps (002.md §3 P23)", None)],
    ("002", "P26"): [("missing-rows", "steps", "steps are the placeholder «گام های مورد نظر توسط استانها پیشنهاد گردد» (002.md §3 P26)", "پیشنهاد گردد")],
    ("002", "P27"): [("missing-rows", "steps", "steps are the placeholder «گام های مورد نظر توسط استانها پیشنهاد گردد» (002.md §3 P27)", "پیشنهاد گردد")],
    ("002", "S1"): [("contradiction", "title_fa", "listed «(بدون شناسنامه)» (without card) in the top list, yet a card exists (002.md §1)", None),
                    ("typo", "access_channels", "«تنظمی» for «تنظیمی», «ا بلاغ می گیردد … ذ.» for «ابلاغ می‌گردد» (002.md §3 S1)", "اعلام مراتب")],
    ("002", "S2"): [("contradiction", "title_fa", "listed «(بدون شناسنامه)» (without card) in the top list, yet a card exists (002.md §1)", None),
                    ("missing-rows", "description", "description is the placeholder «توسط استانها پیشنهاد گردد», kept as printed (002.md §3 S2)", "پیشنهاد گردد")],
}


# ---------------------------------------------------------------------------------------------
# Building an entry
# ---------------------------------------------------------------------------------------------

# Lines that are not the card's own steps (fragments the notes identify)
NOT_STEPS = {("000", "S-06"): set(range(234, 239)), ("004", "G-06"): set(range(354, 361))}
STAGE_RX = [("inform", r"اطلاع\s*رسانی\s*(فرایند|روش)|مرحله\s*اطلاع"), ("start", r"شروع\s*(فرایند|روش)|مرحله\s*شروع"),
            ("process", r"پردازش\s*(فرایند|روش)"), ("deliver", r"ارائه\s*(فرایند|روش)|فراینددر\s*مرحله\s*ارائه|مرحله\s*ارائه")]
PROMPT = re.compile(r"ذکر\s*ضرورت\s*مراجعه\s*(حضوری)?|غیر\s*الکترونیکی|الکترونیکی|حضوری$")


def block(card: Card, name: str, stop: tuple[str, ...]) -> tuple[int, int] | None:
    n = label_line(card, name)
    if n is None:
        return None
    end = n
    for m in range(n + 1, min(card.end, n + (9 if card.seed == "002" else 6)) + 1):
        if any(LABEL_RX[s].search(c) for s in stop for c in cells(card, m)):
            break
        end = m
    return n, end


def ticks(card: Card, name: str, options, stop: tuple[str, ...]) -> tuple[list[str], tuple[int, int] | None]:
    span = block(card, name, stop)
    if span is None:
        return [], None
    a, b = span
    if card.seed == "002":
        found = []
        for n in range(a, b + 1):
            for value in pua_ticks(card.raw[n - 1], options, label_before=card.kind == "service-card"):
                if value not in found:
                    found.append(value)
        return found, span
    text = " ".join(plain(card.raw[n - 1]) for n in range(a, b + 1))
    if CHECKED not in text and UNCHECKED not in text and b + 1 <= card.end:  # G-01: boxes on the next line
        b += 1
        text += " " + plain(card.raw[b - 1])
    return html_ticks(text, options), (a, b)


def stages(card: Card) -> list[dict]:
    override = STAGES_OVERRIDE.get((card.seed, card.card_id))
    rows = []
    for stage, rx in STAGE_RX:
        n = card.find(rx, after=label_line(card, "system") or card.start)
        if n is None:
            continue
        rows.append((stage, n))
    result = []
    for i, (stage, n) in enumerate(rows):
        end = rows[i + 1][1] - 1 if i + 1 < len(rows) else n + (1 if card.seed != "002" else 6)
        e = ne = False
        medium = []
        for m in range(n, end + 1):
            raw = card.raw[m - 1]
            if card.seed == "002":
                if re.search("[\uf0fe\uf052]", raw):
                    if re.search(r"غیر\s*الکترونیکی|ذکر\s*ضرورت|حضوری", raw.translate(ARABIC)):
                        ne = True
                    else:
                        e = True
                for part in re.split(r"\s{2,}", raw.translate(ARABIC)):
                    if re.search(r"مکاتبه|محرمانه", part):  # 002.md §2.1: medium and reason
                        medium.append(fa(part))
                continue
            text = plain(raw)
            box_after = (card.seed, card.card_id) == ("000", "S-03")
            for option in html_ticks(text, [(r"^\s*غیر\s*الکترونیکی", "ne"), (r"^\s*الکترونیکی", "e")], box_after):
                e, ne = e or option == "e", ne or option == "ne"
            for c in cells(card, m)[1 if m == n else 0:]:
                c = fa(PROMPT.sub(" ", re.sub(r"[☑☐]", " ", c)))
                c = re.sub(r"^(مرحله|در مرحله).*?فرایند( \(.*?\))?", "", c).strip()
                if (not is_empty(c) and not re.search(r"^\(?فرایند داخل دستگاه", c)
                        and not ANY_LABEL.search(c) and not re.search(r"استعلام|استعمال|فیلدهای|برخط|Batch", c)):
                    medium.append(c)
        if override is not None:
            if stage not in override:
                continue
            e, ne = override[stage]
        if not (e or ne or medium):
            continue
        result.append({"stage": stage, "electronic": e, "non_electronic": ne,
                       "medium": " ".join(dict.fromkeys(medium)), "source": card.src(n, end)})
    return result


def item_list(card: Card, name: str) -> list[dict]:
    shifted = SHIFTED.get((card.seed, card.card_id), {})
    if name in shifted:
        if not shifted[name]:
            return []
        a, b = card.locate(shifted[name])
        return [{"text": t, "source": card.src(a, b)} for t in split_items(shifted[name])]
    found = text_field(card, name)
    if not found:
        return []
    value, a, b = found
    if ANY_LABEL.search(value):
        value = ANY_LABEL.split(value)[0]
    return [{"text": t, "source": card.src(a, b)} for t in split_items(value)]


def title_of(card: Card) -> tuple[str, int, int]:
    if card.seed == "002":
        a = card.find(r"عنوان\s*(فرایند|خدمت)")
        b = (card.find(r"شناسه\s*فرایند|عنوان\s*فرایند", after=a) or a + 2) - (0 if card.kind == "process" else 1)
        if card.kind == "service-card":
            b = a
        return TITLE_002[card.card_id], a, max(a, b if card.kind == "service-card" else min(b, a + 2))
    name_rx = r"عنوان\s*خدمت" if card.kind == "service-card" else r"عنوان\s*(فرایند|روش\s*اجرایی)"
    n = card.find(name_rx)
    for c in cells(card, n):
        if re.search(name_rx, c):
            value = re.split(name_rx + r"\s*:?", c)[-1]
            value = re.split(r"\(این فیلد|[0-9۰-۹]-\s*شناسه|شناسه", value)[0]
            return fa(value), n, n
    raise ValueError(card.card_id)


def describes(card: Card, title: str) -> dict | None:
    link = DESCRIBES.get((card.seed, card.card_id))
    if not link:
        return None
    slug, booklet_title, topic = link
    office, row = slug.rsplit("-", 1)
    if key(title) == key(booklet_title):
        method = f"normalised title equal to booklet row {int(row)} of {office}"
    else:
        method = (f"same topic: {topic}; titles differ (booklet row {int(row)} of {office}: "
                  f"«{fa(booklet_title)}»)")
    return {"slug": slug, "method": method}


def service_recipients(card: Card) -> list[dict]:
    """002's service cards print no recipients; their «خدمت گیرندگان» label match is the tail of
    the fee label «هزینه ارایه خدمت (ریال) به / :خدمت گیرندگان» (002.md §2.2 3c, 4e)."""
    fee = service_label(card, "fees")
    return [i for i in item_list(card, "recipients")
            if not (fee and fee <= i["source"]["line_start"] <= fee + 2)]


def service_documents(card: Card) -> list[dict]:
    """Documents without 002's wrapped label tail «برای انجام :خدمت»."""
    items = [dict(i, text=end_stop(re.sub(r"^برای انجام\s*:?\s*خدمت\s*", "", i["text"]))) for i in item_list(card, "documents")]
    return [i for i in items if not is_empty(i["text"])]


def build(card: Card, cards: dict[str, Card]) -> dict:
    deputy, office, hosting, _ = ORG[card.seed]
    title, ta, tb = title_of(card)
    prov = {"title_fa": card.src(ta, tb)}
    unit = label_line(card, "unit") or label_line(card, "agency") or ta
    prov["office"] = card.src(unit)
    entry: dict = {
        "slug": f"card-{card.seed}-{card.card_id.lower()}", "card_id": card.card_id,
        "title_fa": title, "title_en": TITLE_EN[(card.seed, card.card_id)], "kind": card.kind,
        "deputy": deputy, "office": office, "hosting_service": hosting,
    }
    overrides = TICKS_OVERRIDE.get((card.seed, card.card_id), {})
    discrepancies = []

    def tick_field(name, label, options, stop):
        values, span = ticks(card, label, options, stop)
        if name in overrides:
            value, kind = overrides[name]
            if kind:
                discrepancies.append({"kind": kind, "field": name,
                                      "description": f"tick reading of {name} is uncertain; see the seed notes for card {card.card_id}"
                                      + ("" if value is not None else "; left empty"),
                                      "source": card.src(*(span or (card.start, card.start)))})
            values = value or ([] if name != "nature" else None)
        return values, span

    # parent process (service cards)
    if card.kind == "service-card":
        parent = PARENT.get((card.seed, card.card_id))
        n = card.find(r"عنوان\s*فرایند")
        if parent is None and n:
            parent = fa(re.split(r"عنوان\s*فرایند\s*:?", plain(card.raw[n - 1]))[-1])
        if parent and n:
            entry["parent_title_fa"] = parent
            prov["parent_title_fa"] = card.src(n)
    # goal
    shifted = SHIFTED.get((card.seed, card.card_id), {})
    if "goal" in shifted:
        a, b = card.locate(shifted["goal"])
        entry["goal"], prov["goal"] = shifted["goal"], card.src(a, b)
    else:
        found = text_field(card, "goal")
        if found:
            entry["goal"] = fa(ANY_LABEL.split(found[0])[0])
            prov["goal"] = card.src(found[1], found[2])
            if is_empty(entry["goal"]):
                del entry["goal"], prov["goal"]
    stop = ("recipients", "triggers", "nature", "levels", "outputs", "documents", "event", "description")
    types, span = tick_field("process_types", "type", TYPE_OPTIONS if card.kind != "service-card" else [], stop)
    if types:
        entry["process_types"] = types
        prov["process_types"] = card.src(*(span or (card.start, card.start)))
    nature, span = tick_field("nature", "nature", NATURE_OPTIONS, ("levels", "triggers", "event", "recipients"))
    nature = nature[0] if isinstance(nature, list) and nature else (nature if isinstance(nature, str) else None)
    if nature:
        entry["nature"] = nature
        prov["nature"] = card.src(*(span or (card.start, card.start)))
    levels, span = tick_field("levels", "levels", LEVEL_OPTIONS, ("triggers", "event", "outputs", "recipients"))
    if levels:
        entry["levels"] = levels
        prov["levels"] = card.src(*(span or (card.start, card.start)))
    if card.kind == "service-card":
        types, span = tick_field("service_types", "type", SERVICE_TYPE_OPTIONS, stop)
        if types:
            entry["service_types"], prov["service_types"] = types, card.src(*span)
        events, span = tick_field("life_events", "event", LIFE_EVENT_OPTIONS, ("triggers", "documents", "details"))
        if events:
            entry["life_events"], prov["life_events"] = events, card.src(*span)
    entry["recipients"] = item_list(card, "recipients") if card.kind != "service-card" else service_recipients(card)
    trig, span = tick_field("triggers", "triggers", TRIGGER_OPTIONS, ("documents", "laws", "forms"))
    if trig:
        entry["triggers"] = trig
        prov["triggers"] = card.src(*(span or (card.start, card.start)))
    note = TRIGGER_NOTE.get((card.seed, card.card_id))
    if note:
        a, b = card.locate(note)
        entry["trigger_note"], prov["trigger_note"] = fa(note), card.src(a, b)
    if card.kind != "service-card":
        entry["outputs"] = item_list(card, "outputs")
    entry["documents"] = item_list(card, "documents") if card.kind != "service-card" else service_documents(card)
    if card.kind != "service-card":
        entry["laws"] = [law(card, i["text"], i["source"]["line_start"], i["source"]["line_end"])
                         for i in item_list(card, "laws")]
        entry["forms"] = item_list(card, "forms")
        # 002.md §2.1 6a/6b: always blank, "---" or «غیرالکترونیکی» in 002; the reversed label
        # text would otherwise leak into the value.  Table headers are not values either.
        junk = r"غیر ?الکترونیکی|رسانه ارتباطی|مراسله ارتباطی|مراحل|بخشی از آن|^فرایند|^فرم"
        if card.seed != "002":
            entry["web_addresses"] = [i for i in item_list(card, "web") if not re.search(junk, i["text"])]
            entry["systems"] = [i for i in item_list(card, "system") if not re.search(junk, i["text"])]
        entry["electronic"] = stages(card)
    # agencies
    rows = AGENCIES.get((card.seed, card.card_id))
    if card.seed == "002" and card.card_id in AGENCIES_002:
        by = INQUIRY_BY_002.get(card.card_id, "")
        modes = ["non-electronic"] if card.card_id in NONELEC_002 else []
        rows = [(name, "", "", modes, by, False) for name in AGENCIES_002[card.card_id]]
    entry["agencies"] = []
    for agency, systems, fields_, modes, by, internal in rows or []:
        a, b = card.locate(agency) if agency != "استانداری" or not internal else card.locate(systems or fields_)
        entry["agencies"].append({"agency": fa(agency), "systems": systems, "exchanged_fields": fa(fields_),
                                  "inquiry_modes": modes, "inquiry_by": by, "internal": internal,
                                  "source": card.src(a, b)})
    # steps
    if card.seed == "002":
        first = (label_line(card, "steps") or card.end) + 1
    else:
        first = card.start
        for n in card.numbers():
            line = plain(card.raw[n - 1])
            if n in NOT_STEPS.get((card.seed, card.card_id), set()):
                continue
            if (any(LABEL_RX[s].search(line) for s in ("sec7", "sec8", "stages")) or CHECKED in line
                    or UNCHECKED in line or "مراجعه کننده" in line or "--" in line or "□" in line):
                if not re.search(r"(عناوین|معاونین|معاون)\s*(گام|کام)|عنوان کارهای", line):
                    first = n + 1
    skip = NOT_STEPS.get((card.seed, card.card_id), set())
    entry["steps"] = parse_steps(card, first, card.end, skip) if card.kind != "service-card" else []
    # service details and access (service cards have no steps)
    if card.kind == "service-card":
        details, details_prov = service_details(card)
        entry.update(details)
        prov.update(details_prov)
        entry["access_channels"] = access_channels(card)
    # links, discrepancies
    entry["describes"] = describes(card, title)
    entry["part_of"] = part_of(card, cards, entry.get("parent_title_fa", ""))
    if card.seed == "004":
        discrepancies.append({"kind": "other", "field": "office",
                              "description": "seed 004 is the governor's office & public relations of Khorasan Razavi "
                                             "(استانداری خراسان رضوی), not of Qazvin; filed under the Qazvin governor's-domain office by brief",
                              "source": card.src(*card.locate("دفتر استاندار و روابط عمومی"))})
    if card.seed == "002":
        discrepancies.append({"kind": "scrambled-table", "field": "title_fa",
                              "description": "002 is extracted visually left to right (runs reversed, words glued across "
                                             "wrapped lines); title in reading order per 002.md §3, other text in the "
                                             "reversed-run reading order",
                              "source": card.src(ta, tb)})
    for kind, field_, description, needle in DEFECTS.get((card.seed, card.card_id), []):
        a, b = card.locate(needle) if needle else (card.start, card.start)
        discrepancies.append({"kind": kind, "field": field_, "description": description, "source": card.src(a, b)})
    entry["discrepancies"] = discrepancies
    entry["provenance"] = prov
    return entry


def main(root: Path = REPO) -> None:
    for seed, (_, _, _, out) in ORG.items():
        cards = split_cards(seed)
        by_id = {card.card_id: card for card in cards}
        entries = [build(card, by_id) for card in cards]
        data = {"entries": entries}
        CatalogueFile.model_validate(data)
        path = root / out
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Generated by tools/catalogue/build_cards.py from seeds/{SEED_FILES[seed]}; do not edit by hand.\n")
        path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120),
                        encoding="utf-8")
        print(f"{out}: {len(entries)} entries")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO)
