"""Build the catalogue from the Qazvin governorate's booklet of 332 services (seed 001).

Run:  .venv/bin/python tools/catalogue/build_booklet.py [OUT]    (OUT defaults to the repository)

Inputs (read-only, in ``<repo>/../shared``):
  seeds/001_4beb4eaa6130e669.txt          the booklet as extracted (the facts)
  seed-notes/001-partA.md, 001-partB.md   a decoded reading of it (the guide)

The notes' per-office tables give, for every booklet row, its Persian title, English title, ID and
the decoded flags (exclusive/general/shared, has clients).  Every one of these is then looked up in
the ORIGINAL seed under a Persian-aware normalisation (ZWNJ, ي/ك, diacritics, tatweel, white space
and digit script ignored); the Persian title written to the catalogue is the seed's own cell, with
lost ZWNJ restored, and every fact keeps the 1-based line range it was read from.  Table 1's
printed figures come from the seed, never from the notes.  Documents, laws and steps come from the
seed's workflow-diagram blocks (matched to services by title, or by position between two titled
blocks).  Defects of the source are written as discrepancies, never silently fixed.

Outputs:
  kit/src/ostan_kit/catalogue/data/organisation.yaml
  services/<hosting_service>/src/ostan_<hosting_service>/catalogue/booklet-<office>.yaml
"""

from __future__ import annotations

import difflib
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
SEED_NAME = "001_4beb4eaa6130e669.txt"
SEED_PATH = SHARED / "seeds" / SEED_NAME
NOTES = [SHARED / "seed-notes" / "001-partA.md", SHARED / "seed-notes" / "001-partB.md"]
sys.path.insert(0, str(REPO / "kit" / "src"))

from ostan_kit.catalogue.entries import CatalogueFile  # noqa: E402

ZWNJ = "\u200c"

# ---------------------------------------------------------------------------------------------
# Organisation: deputies and offices in Table 1 order (slugs fixed by the design)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    slug: str
    deputy: str
    hosting: str
    notes_heading: str  # start of the office's heading in the seed notes
    seed_heading: str  # a phrase of the office's list heading in the seed


DEPUTIES = ["economic", "political-security-social", "civil-affairs", "governor-domain",
            "management-resources"]

OFFICES = [
    Office("economic-affairs", "economic", "economic",
           "### دفتر هماهنگی امور اقتصادی —", "دفتر هماهنگی امور اقتصادی (۱۲ خدمت)"),
    Office("investment-employment", "economic", "economic",
           "### دفتر هماهنگی امور سرمایه", "دفتر هماهنگی امور سرمایهگذاری و اشتغال (۱۷ خدمت)"),
    Office("political-elections-divisions", "political-security-social", "political",
           "### دفتر امور سیاسی", "دفتر امور سیاسی، انتخابات و تقسیمات کشوری (۲۶ خدمت)"),
    Office("security-law-enforcement", "political-security-social", "political",
           "### دفتر امور امنیتی", "دفتر امور امنیتی و انتظامی (۱۱ خدمت)"),
    Office("social-cultural", "political-security-social", "social",
           "### دفتر امور اجتماعی", "دفتر امور اجتماعی و فرهنگی (۲۵ خدمت)"),
    Office("foreign-nationals", "political-security-social", "foreign-nationals",
           "### دفتر امور اتباع", "دفتر امور اتباع و مهاجرین خارجی (۴۷ خدمت)"),
    Office("passive-defence", "political-security-social", "political",
           "### اداره کل پدافند", "اداره کل پدافند غیرعامل (۱۰ خدمت)"),
    Office("urban-councils", "civil-affairs", "urban",
           "### دفتر امور شهری", "دفتر امور شهری و شوراها (۳۵ خدمت)"),
    Office("rural-councils", "civil-affairs", "urban",
           "### دفتر امور روستایی", "دفتر امور روستایی و شوراهای (۱۸ خدمت)"),
    Office("technical-transport-traffic", "civil-affairs", "urban",
           "### دفتر فنی", "دفتر فنی امور عمرانی و حمل و نقل و ترافیک (۱۴ خدمت)"),
    Office("crisis-management", "civil-affairs", "urban",
           "### اداره کل مدیریت بحران", "اداره کل مدیریت بحران (۱۱ خدمت)"),
    Office("performance-inspection-legal-pr", "governor-domain", "governor",
           "### 1.6 ", "دفتر مدیریت عملکرد، بازرسی، امور حقوقی و ارتباطات مردمی (۱۶ خدمت)"),
    Office("women-family", "governor-domain", "governor",
           "### 1.7 ", "دفتر امور زنان و خانواده (۸ خدمت)"),
    Office("management-resources-deputy", "management-resources", "admin-finance",
           "### 1.8 ", "معاونت توسعه مدیریت و منابع (خدمت)"),
    Office("planning-budget-transformation", "management-resources", "admin-finance",
           "### 1.9 ", "دفتر برنامه ریزی، بودجه و تحول اداری (۱۵ خدمت)"),
    Office("administrative-financial", "management-resources", "admin-finance",
           "### 1.10 ", "اداره کل امور اداری و مالی (۵۷ خدمت)"),
    Office("it-cyberspace-network", "management-resources", "admin-finance",
           "### 1.11 ", "مدیریت فناوری اطلاعات امنیت فضای مجازی و شبکه دولت (۹ خدمت)"),
]
OFFICE = {office.slug: office for office in OFFICES}

# Table 1 rows, top to bottom (the grand total is read separately).
TABLE1_ORDER = [
    ("deputy", "economic"), ("office", "economic-affairs"), ("office", "investment-employment"),
    ("deputy", "political-security-social"), ("office", "political-elections-divisions"),
    ("office", "security-law-enforcement"), ("office", "social-cultural"),
    ("office", "foreign-nationals"), ("office", "passive-defence"),
    ("deputy", "civil-affairs"), ("office", "urban-councils"), ("office", "rural-councils"),
    ("office", "technical-transport-traffic"), ("office", "crisis-management"),
    ("deputy", "governor-domain"), ("office", "performance-inspection-legal-pr"),
    ("office", "women-family"),
    ("deputy", "management-resources"), ("office", "management-resources-deputy"),
    ("office", "planning-budget-transformation"), ("office", "administrative-financial"),
    ("office", "it-cyberspace-network"),
]

# ---------------------------------------------------------------------------------------------
# Persian text: normalisation for matching, and ZWNJ restoration for stored titles
# ---------------------------------------------------------------------------------------------

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ہ": "ه", "ـ": None})
_INVISIBLE = re.compile("[\u200c\u200d\u200e\u200f\ufeff\u064b-\u065f\u0670]")
_TAGS = re.compile(r"</?b>|<br\s*/?>|\*\*")


def letters(text: str) -> str:
    """Arabic ي/ك as Persian ی/ک and tatweel dropped; everything else as printed."""
    return text.translate(_LETTERS)


def norm(text: str) -> str:
    """Matching form: no ZWNJ, diacritics or tatweel, Persian letters, ASCII digits, one space."""
    text = _TAGS.sub(" ", text)
    text = _INVISIBLE.sub("", letters(text)).translate(_DIGITS)
    return re.sub(r"\s+", " ", text).strip()


def squash(text: str) -> str:
    """``norm`` without any white space: ZWNJ, space and nothing are then all the same."""
    return norm(text).replace(" ", "")


def ascii_digits(text: str) -> str:
    return text.translate(_DIGITS)


LETTER = "\u0620-\u064a\u0671-\u06d3"  # Arabic-script letters (no digits or punctuation)
PERSIAN_WORD = re.compile(f"[{LETTER}\u200c]+")
PLURALS = ("هایی", "های", "ها")
NON_JOINING = set("اآأإدذرزژو")
NOT_PLURAL = {"تنها", "رها", "بها", "انتها", "ابتها", "اینها"}
CONSONANT_H = {"گروه", "کوه", "انبوه", "شکوه", "اندوه", "توجیه", "فقه", "شبیه", "تنبیه", "وجه", "توجه"}
VERB_PREFIX_SKIP = {"میزان", "میدان", "میدانی", "میلیون", "میانه", "میان", "میراث", "میهمان",
                    "میز", "میانگین", "میلادی"}
# Compounds whose parts were joined by a ZWNJ; the key is the printed form (with or without space).
COMPOUNDS = {
    "سرمایهگذار": "سرمایه‌گذار", "سرمایه گذار": "سرمایه‌گذار",
    "بهرهوری": "بهره‌وری", "بهره وری": "بهره‌وری",
    "بهرهبرداری": "بهره‌برداری", "بهره برداری": "بهره‌برداری",
    "برنامهریزی": "برنامه‌ریزی", "برنامه ریزی": "برنامه‌ریزی",
    "بودجهریزی": "بودجه‌ریزی", "بودجه ریزی": "بودجه‌ریزی",
    "گفتوگو": "گفت‌وگو", "جمعآوری": "جمع‌آوری", "جمع آوری": "جمع‌آوری",
    "جمعبندی": "جمع‌بندی", "جمع بندی": "جمع‌بندی",
    "دانشبنیان": "دانش‌بنیان", "دانش بنیان": "دانش‌بنیان", "استارتآپ": "استارت‌آپ",
    "تفاهمنامه": "تفاهم‌نامه", "تفاهم نامه": "تفاهم‌نامه",
    "موافقتنامه": "موافقت‌نامه", "موافقت نامه": "موافقت‌نامه",
    "تصویبنامه": "تصویب‌نامه", "تصویب نامه": "تصویب‌نامه",
    "آییننامه": "آیین‌نامه", "آیین نامه": "آیین‌نامه",
    "شیوهنامه": "شیوه‌نامه", "شیوه نامه": "شیوه‌نامه",
    "معرفینامه": "معرفی‌نامه", "معرفی نامه": "معرفی‌نامه",
    "پرسشنامه": "پرسش‌نامه", "پرسش نامه": "پرسش‌نامه",
    "جابهجایی": "جابه‌جایی", "نرمافزار": "نرم‌افزار", "سختافزار": "سخت‌افزار",
    "اندیشهورز": "اندیشه‌ورز", "اندیشه ورز": "اندیشه‌ورز",
    "دانشآموز": "دانش‌آموز", "مردمنهاد": "مردم‌نهاد", "مردم نهاد": "مردم‌نهاد",
    "آسیبپذیر": "آسیب‌پذیر", "آسیب پذیر": "آسیب‌پذیر", "آسیب دیده": "آسیب‌دیده",
    "خطرپذیری": "خطرپذیری", "به روزرسانی": "به‌روزرسانی", "بهروزرسانی": "به‌روزرسانی",
    "غیرمترقبه": "غیرمترقبه", "صورتجلسه": "صورت‌جلسه", "ذیربط": "ذی‌ربط",
    "ذی نفع": "ذی‌نفع", "ذیحساب": "ذی‌حساب", "ذی حساب": "ذی‌حساب",
    "فن آوری": "فن‌آوری", "راه اندازی": "راه‌اندازی", "نقل و انتقال": "نقل‌وانتقال",
    "ماشین آلات": "ماشین‌آلات", "توان افزایی": "توان‌افزایی", "حرفهای": "حرفه‌ای", "زنجیرهی": "زنجیره‌ی",
    "تراکنش": "تراکنش", "امحاء": "امحاء",
}
# The last two are no-ops kept to show the rule: only forms the usual orthography joins are listed.
COMPOUNDS = {k: v for k, v in COMPOUNDS.items() if k != v}
COMPOUNDS.pop("نقل و انتقال")  # written with spaces in standard orthography too


class ZwnjRestorer:
    """Puts back the ZWNJ the extraction lost, using the seed's own words as the dictionary.

    ``Xها``/``Xهای`` becomes ``X‌ها`` when X occurs as a word of its own; ``Xهی``/``Xهای`` after a
    silent h becomes ``Xه‌ی``/``Xه‌ای``; ``میY`` becomes ``می‌Y`` when Y is a word (a verb); a detached
    ``ها``/``های``/``ای``/``می`` is joined with a ZWNJ; listed compounds are joined.
    """

    def __init__(self, corpus: str):
        self.vocab = Counter(PERSIAN_WORD.findall(letters(corpus)))

    def known(self, word: str) -> bool:
        return len(word) >= 2 and self.vocab[word] > 0

    def word(self, w: str) -> str:
        if ZWNJ in w:  # a listed compound: only its plural suffix may still be attached
            head, _, last = w.rpartition(ZWNJ)
            for suffix in PLURALS:
                if last.endswith(suffix) and len(last) > len(suffix) + 1:
                    return head + ZWNJ + last[: -len(suffix)] + ZWNJ + suffix
            if last.endswith("هی") and len(last) > 3:
                return head + ZWNJ + last[:-1] + ZWNJ + "ی"
            return w
        # silent h + ای (adjective/indefinite) before the plural reading when the h-word is known
        if w.endswith("های") and self.known(w[:-2]) and self.vocab[w[:-2]] >= self.vocab[w[:-3]]:
            return w[:-2] + ZWNJ + "ای"
        for suffix in PLURALS:
            stem = w[: -len(suffix)]
            plural_stem = stem.endswith("ه") or len(stem) >= 4 or self.known(stem)
            if w.endswith(suffix) and w not in NOT_PLURAL and len(stem) >= 2 and plural_stem:
                # after a non-joining letter nothing was lost: «شهرها» stays as printed
                return stem + (ZWNJ if stem[-1] not in NON_JOINING else "") + suffix
        if (w.endswith("هی") and w[:-1] not in CONSONANT_H and len(w) > 3 and w[-3] != "ا"
                and self.known(w[:-1])):
            return w[:-1] + ZWNJ + "ی"
        for prefix in ("نمی", "می"):
            rest = w[len(prefix):]
            if w.startswith(prefix) and w not in VERB_PREFIX_SKIP and len(rest) >= 3 \
                    and self.known(rest):
                return prefix + ZWNJ + rest
        return w

    def __call__(self, text: str) -> str:
        text = letters(text)
        for printed, joined in COMPOUNDS.items():
            text = text.replace(printed, joined)
        text = PERSIAN_WORD.sub(lambda m: self.word(m.group()), text)
        # detached suffixes and prefixes: «سازمان های» -> «سازمان‌های», «دوره ای» -> «دوره‌ای»
        text = re.sub(f"(?<=[{LETTER}]) (هایی|های|ها)(?![{LETTER}])", ZWNJ + r"\1", text)
        text = re.sub(f"(?<=ه) (ای)(?![{LETTER}])", ZWNJ + r"\1", text)
        text = re.sub(f"(?<![{LETTER}])(ن?می) (?=[{LETTER}]{{2}})", r"\1" + ZWNJ, text)
        return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------------------------
# The seed
# ---------------------------------------------------------------------------------------------


class Seed:
    def __init__(self, path: Path):
        self.lines = path.read_text(encoding="utf-8").split("\n")
        self.keys = [norm(line) for line in self.lines]  # index i is line i+1
        self.flat = [squash(line) for line in self.lines]

    def line(self, n: int) -> str:
        return self.lines[n - 1]

    def find(self, phrase: str, start: int = 1, end: int | None = None) -> int | None:
        """First line in [start, end] whose text contains ``phrase`` under the normalisation."""
        target = squash(phrase)
        end = end or len(self.lines)
        for n in range(start, end + 1):
            if target and target in self.flat[n - 1]:
                return n
        return None

    def cells(self, n: int) -> list[str]:
        text = self.lines[n - 1].strip()
        return [cell.strip() for cell in text.strip("|").split("|")] if text.startswith("|") else []


def src(a: int, b: int | None = None) -> dict:
    return {"seed": SEED_NAME, "line_start": a, "line_end": b or a}


# ---------------------------------------------------------------------------------------------
# The seed notes: per-office tables and parent-service lists
# ---------------------------------------------------------------------------------------------


@dataclass
class NoteRow:
    row: int
    title: str
    english: str
    service_id: str
    scope: str
    clients: bool | None
    uncertain: list[str]  # fields whose reading the notes mark with '?'
    raw: str
    note: str
    parent_fa: str = ""
    parent_en: str = ""
    parent_id_printed: str = ""
    parent_id_probable: str = ""


SCOPES = {"E": "exclusive", "G": "general", "S": "shared"}


def table_rows(lines: list[str], i: int) -> tuple[list[str], list[list[str]], int]:
    header = [c.strip() for c in lines[i].strip().strip("|").split("|")]
    rows, j = [], i + 2
    while j < len(lines) and lines[j].startswith("|"):
        rows.append([c.strip() for c in lines[j].strip().strip("|").split("|")])
        j += 1
    return header, rows, j


def parse_parents(block: list[str]) -> list[tuple[int, int, str, str, str]]:
    """'- rows 1–12: **title** (ID) — English' bullets, and partB's 'Parent: title, English, `ID`.'"""
    parents = []
    for line in block:
        m = re.match(r"- rows (\d+)–(\d+): \*\*(.+?)\*\* \((.+?)\)(?: — (.*))?$", line)
        if m:
            parents.append((int(m[1]), int(m[2]), m[3], m[4], (m[5] or "").strip()))
        m = re.match(r"Parent: (.+?), (.+?), `(\d+)`\.", line)
        if m:
            parents.append((1, 999, m[1], m[3], m[2]))
    return parents


def split_parent(cell: str) -> tuple[str, str]:
    """'راهبری ... (Steering the ...)' -> Persian, English ('' when the brackets are a remark)."""
    m = re.match(r"(.+?)\s*\(([A-Za-z].*)\)\s*$", cell)
    if not m:
        return cell.strip(), ""
    english = m[2].split(";")[0].strip()
    return m[1].strip(), "" if english.startswith("title split") else english


def parse_flags(row: dict) -> tuple[str, bool | None, list[str]]:
    uncertain: list[str] = []
    if "Type" in row:  # part A: decoded Type and Client columns
        kind, client = row["Type"], row["Client"]
        if kind.endswith("?"):
            uncertain.append("scope")
        if client.endswith("?"):
            uncertain.append("has_clients")
        scope = SCOPES.get(kind.rstrip("?"), "unknown")
        clients = {"Y": True, "N": False}.get(client.rstrip("?")) if client != "?" else None
        return scope, clients, uncertain
    flags = [f.strip().rstrip("?").strip() for f in row.get("Flags", row.get("Flags as printed", "")).split(",")]
    scope = next((SCOPES[f] for f in flags if f in SCOPES), "unknown")
    return scope, "C" in flags, uncertain


def parse_notes() -> dict[str, list[NoteRow]]:
    lines: list[str] = []
    for path in NOTES:
        lines += path.read_text(encoding="utf-8").split("\n")
    result: dict[str, list[NoteRow]] = {}
    current, section_lines = None, []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            current = next((o.slug for o in OFFICES if line.startswith(o.notes_heading)), None)
            if current in result:  # part B repeats the civil-affairs offices: part A is used
                current = None
            section_lines = []
        elif current and line.startswith("| # |") and "Sub-service" in line:
            header, rows, i = table_rows(lines, i)
            result[current] = office_rows(header, rows, parse_parents(section_lines))
            current = None
            continue
        section_lines.append(line)
        i += 1
    return result


def office_rows(header: list[str], rows: list[list[str]], parents) -> list[NoteRow]:
    out: list[NoteRow] = []
    last_parent = ("", "")
    for cells in rows:
        row = dict(zip(header, cells, strict=False))
        if not row["#"].isdigit():
            continue  # e.g. the rural office's "13–18 (missing)"
        number = int(row["#"])
        title = next(v for k, v in row.items() if k.startswith("Sub-service"))
        scope, clients, uncertain = parse_flags(row)
        service_id = row.get("Service ID", row.get("ID", ""))
        service_id = service_id if re.fullmatch(r"\d{11}", service_id) else ""
        raw = next((v for k, v in row.items() if k.startswith("Raw flags")), "")
        entry = NoteRow(number, title, row["English"], service_id, scope, clients, uncertain, raw,
                        row.get("Notes", ""))
        parent_cell = row.get("Parent service") or row.get("Group") or row.get("Service") or ""
        if parent_cell and parent_cell != "〃":
            last_parent = split_parent(parent_cell)
        if parent_cell:
            entry.parent_fa, entry.parent_en = last_parent
        for first, last, fa, pid, en in parents:
            if first <= number <= last:
                entry.parent_fa, entry.parent_en = fa, en
                printed = re.match(r"(\d+)(?: \(printed; likely (\d+)\))?", pid)
                entry.parent_id_printed, entry.parent_id_probable = printed[1], printed[2] or ""
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# Locating facts in the seed
# ---------------------------------------------------------------------------------------------


def office_regions(seed: Seed) -> dict[str, tuple[int, int, int]]:
    """office -> (heading line, first line, last line) of its service table in the seed."""
    starts = {}
    for office in OFFICES:
        n = seed.find(office.seed_heading)
        if n is None:
            raise SystemExit(f"office heading not found in the seed: {office.seed_heading}")
        starts[office.slug] = n
    regions = {}
    for office in OFFICES:
        start = starts[office.slug]
        later = [n for n in starts.values() if n > start]
        diagram = seed.find("نمودار گردش کار", start) or len(seed.lines)
        box = next((n for n in range(start, len(seed.lines)) if DOCS_BOX.search(seed.line(n))), diagram)
        end = min(later + [diagram, box]) - 1
        regions[office.slug] = (start, start, end)
    return regions


def deputy_heading(seed: Seed, office_line: int) -> int:
    """The «لیست خدمات احصاء شده معاونت …» line just above an office's heading."""
    for n in range(office_line, 0, -1):
        if "لیست خدمات احصاء شده" in seed.line(n):
            return n
    return office_line


def locate_title(seed: Seed, title: str, start: int, end: int) -> tuple[int, str] | None:
    """The table row (line, printed cell) whose cell is the title; exact first, then closest."""
    target = squash(title)
    for n in range(start, end + 1):
        for cell in seed.cells(n):
            if squash(cell) == target:
                return n, cell
    best = (0.0, None, None)
    for n in range(start, end + 1):
        for cell in seed.cells(n):
            ratio = difflib.SequenceMatcher(None, squash(cell), target).ratio()
            if ratio > best[0]:
                best = (ratio, n, cell)
    if best[0] >= 0.9:
        return best[1], best[2]
    return None


def locate_phrase(seed: Seed, phrase: str, start: int, end: int) -> tuple[int, int] | None:
    """Line range of a phrase that may be split over two table rows (e.g. a parent title)."""
    n = seed.find(phrase, start, end)
    if n:
        return n, n
    words = norm(phrase).split()
    half = len(words) // 2
    a = seed.find(" ".join(words[:half]), start, end)
    b = seed.find(" ".join(words[half:]), a or start, end) if a else None
    return (a, b) if a and b and b - a <= 3 else None


# ---------------------------------------------------------------------------------------------
# Table 1
# ---------------------------------------------------------------------------------------------


def number(cell: str) -> int:
    digits = ascii_digits(_TAGS.sub("", cell)).strip()
    return int(digits) if digits.isdigit() else 0


def read_table1(seed: Seed, notes_en: dict[str, str], restore) -> tuple[dict, dict[str, dict]]:
    head = seed.find("جدول ۱) نمای کلی فرآیندها و خدمات")
    first = next(n for n in range(head, head + 10) if seed.line(n).startswith("|---")) + 1
    rows = {}
    for (kind, slug), n in zip(TABLE1_ORDER, range(first, first + len(TABLE1_ORDER)), strict=False):
        cells = seed.cells(n)
        title = _TAGS.sub("", cells[0]).strip()
        rows[slug] = {
            "kind": kind, "slug": slug, "line": n, "title_fa": restore(title),
            "title_en": notes_en.get(closest(squash(title), list(notes_en)), ""),
            "table1": {"services": number(cells[1]), "exclusive": number(cells[2]),
                       "general": number(cells[3]), "shared": number(cells[4]),
                       "with_clients": number(cells[5])},
        }
    total = first + len(TABLE1_ORDER)
    assert "جمع کل" in seed.line(total), seed.line(total)
    return src(head, total), rows


def closest(key: str, keys: list[str]) -> str:
    """The key itself, or the nearest one (Table 1 prints «شوراهای» where the notes have «شوراها»)."""
    return key if key in keys else next(iter(difflib.get_close_matches(key, keys, 1, 0.9)), key)


def table1_english() -> dict[str, str]:
    """Unit titles of the notes' Table 1 (Persian key -> English)."""
    out = {}
    for line in NOTES[0].read_text(encoding="utf-8").split("\n"):
        cells = [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and re.search(r"[\u0600-\u06ff]", cells[0]):
            persian = re.sub(r"\s*\(the deputy itself\)", "", cells[0])
            out[squash(persian)] = re.sub(r"\s*\(.*?\)", "", cells[1]).strip()
    return out


# ---------------------------------------------------------------------------------------------
# Workflow-diagram blocks: documents, laws, steps
# ---------------------------------------------------------------------------------------------

DOCS_BOX = re.compile(r"مدا\s*رک\s*/\s*فرم|مداخلک\s*/\s*فرم")
LIST_ITEM = re.compile(r"^\s*(?:[-–•]\s*(?:[0-9۰-۹]{1,2}\s*[.\-)])?|[0-9۰-۹]{1,2}\s*[.\-)])\s*")
BRANCH_LABELS = {"بله", "بلی", "خیر", "موافق", "مخالف", "شروع", "پایان"}
FURNITURE = ("وزارت کشور", "استانداری قزوین", "استاداری قزوین", "استاداری قم",
             "معاونت توسعه مدیریت و منابع", "نمودار گردش کار")
LAW_WORDS = re.compile(
    r"قانون|آیین ?نامه|آییننامه|دستورالعمل|دستور العمل|بخشنامه|مصوبه|مصوبات|تصویب ?نامه|"
    r"نظام ?نامه|شیوه ?نامه|ابلاغیه|نامه(?:ی)? شماره|نامه [0-9۰-۹]|سیاستهای کلی|ماده|تبصره|"
    r"طرح [0-9۰-۹]|شماره [0-9۰-۹]")


@dataclass
class Block:
    box: int  # line of the documents box («مدارک/فرمها/رویههای …»), or 0 when there is none
    first: int  # first line of the block's own text (title, steps)
    last: int  # last line of its documents list
    items: list[tuple[str, int, int]] = field(default_factory=list)
    pre: str = ""  # squashed title + step text

    def title_score(self, title: str) -> float:
        """Share of the title found in the block's last heading (or, discounted, its opening text)."""
        target = squash(title)
        segments = [seg for seg in self.pre.split("#") if len(seg) >= 8]
        own = overlap(target, segments[-1][: len(target) * 2 + 40]) if segments else 0.0
        return max(own, 0.9 * overlap(target, self.pre[: len(target) * 3 + 60]))


def overlap(target: str, text: str) -> float:
    matcher = difflib.SequenceMatcher(None, target, text, autojunk=False)
    return sum(b.size for b in matcher.get_matching_blocks() if b.size >= 4) / max(len(target), 1)


def read_items(seed: Seed, box: int, limit: int) -> tuple[list[tuple[str, int, int]], int]:
    """The numbered lines after a documents box (with continuation lines); and the last line."""
    items: list[list] = []
    n, last, blank = box + 1, box, False
    inline = DOCS_BOX.split(seed.line(box), maxsplit=1)[-1]
    inline = re.sub(r"^[^:]*:", "", inline).strip()
    if inline and LIST_ITEM.match(inline):
        items.append([inline, box, box])
    while n <= limit:
        text = seed.line(n).strip()
        if not text:
            blank = True
        elif text.startswith(("#", "|", "**")) or "نمودار گردش" in text or DOCS_BOX.search(text):
            break
        elif LIST_ITEM.match(text):
            items.append([text, n, n])
            last, blank = n, False
        elif items and not blank:
            items[-1][0] += " " + text
            items[-1][2] = last = n
        elif not items and norm(text) not in ("ندارد",) and len(text) < 200:
            items.append([text, n, n])  # a single unnumbered entry
            last, blank = n, False
        else:
            break
        n += 1
    cleaned = []
    for text, a, b in items:
        body = LIST_ITEM.sub("", text).strip(" .-")
        if body and norm(body) not in ("ندارد", "-"):
            cleaned.append((body, a, b))
    return cleaned, last


def read_blocks(seed: Seed, first: int, last: int) -> list[Block]:
    boxes = [n for n in range(first, last + 1) if DOCS_BOX.search(seed.line(n))]
    blocks, start = [], first
    for i, box in enumerate(boxes):
        limit = (boxes[i + 1] - 1) if i + 1 < len(boxes) else last
        items, end = read_items(seed, box, limit)
        block = Block(box, start, end, items)
        block.pre = "".join(("#" if "نمودار گردش" in seed.line(n) else "") + seed.flat[n - 1]
                            for n in range(start, box))
        block.pre = re.sub(r"نمودارگردشکار(فرآیند|فرایند)?", "", block.pre)
        blocks.append(block)
        start = end + 1
    return blocks


def align(services: list, blocks: list[Block], threshold: float = 0.75) -> dict[int, tuple[Block, str]]:
    """Service index -> (block, 'title' | 'position'): monotonic best title matches, then gaps
    holding as many unmatched services as unmatched blocks are paired in order."""
    scores = [[b.title_score(s.title) for b in blocks] for s in services]
    n, m = len(services), len(blocks)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            take = scores[i][j] + best[i + 1][j + 1] if scores[i][j] >= threshold else -1
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if scores[i][j] >= threshold and best[i][j] == scores[i][j] + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    result = {i: (blocks[j], "title") for i, j in pairs}
    anchors = [(-1, -1)] + pairs + [(n, m)]
    for (i0, j0), (i1, j1) in zip(anchors, anchors[1:], strict=False):
        if i1 - i0 == j1 - j0 and i1 - i0 > 1:
            for k in range(1, i1 - i0):
                result[i0 + k] = (blocks[j0 + k], "position")
    return result


def read_steps(seed: Seed, block: Block, restore, used: set[int]) -> list[dict]:
    """Lines between «شروع» and «پایان», one step per box line.  The flowchart may sit before or
    after the documents box: it is searched from the block's «نمودار گردش کار» title to the next
    title (or, with no title, in the block's own text); a flowchart is given to one block only."""
    titles = [n for n in range(block.first, block.box) if "نمودار گردش" in seed.line(n)]
    first = titles[-1] if titles else block.first
    limit = block.box
    if titles:
        limit = next((n for n in range(block.box + 1, len(seed.lines)) if "نمودار گردش" in seed.line(n)
                      or DOCS_BOX.search(seed.line(n))), len(seed.lines))
        if limit < len(seed.lines) and DOCS_BOX.search(seed.line(limit)):
            limit = block.box  # a flowchart followed by a box is that next block's own
    begin = next((n for n in range(first, limit) if norm(seed.line(n)) == "شروع"), None)
    if begin is None or begin in used:
        return []
    used.add(begin)
    end = next((n for n in range(begin + 1, limit) if norm(seed.line(n)) == "پایان"), limit)
    steps = []
    for n in range(begin + 1, end):
        text = norm(seed.line(n))
        if not text or text in BRANCH_LABELS or any(text.startswith(f) for f in FURNITURE) \
                or text.startswith(("#", "|")) or len(text) < 4:
            continue
        steps.append({"order": len(steps) + 1, "text": restore(seed.line(n).strip()), "source": src(n)})
    return steps


def law_reference(text: str, a: int, b: int, restore) -> dict:
    plain = ascii_digits(letters(text))
    number_ = re.search(r"شماره\s*:?\s*([0-9][0-9/\-\u0600-\u06ff]*?[0-9](?:\s*[\u0600-\u06ff]{1,2}(?=\s))?)"
                        r"(?=\s|$|،|\))", plain)
    date = re.search(r"(?<![0-9/])(\d{1,4}/\d{1,2}/\d{1,4})(?![0-9/])", plain)
    article = re.search(r"((?:بند|تبصره|ماده|فصل)\s*(?:\(?[0-9]+\)?|[\u0600-\u06ff]+)(?:\s*مکرر)?)", plain)
    law = {"title": restore(text), "source": src(a, b)}
    if number_:
        law["number"] = number_[1].strip()
    if date and (not number_ or date[1] != number_[1]):
        law["date_jalali"] = date[1]
    if article:
        law["article"] = article[1].strip()
    return law


# ---------------------------------------------------------------------------------------------
# Discrepancies
# ---------------------------------------------------------------------------------------------

# Defects the seed notes name in prose (not in a table column); each cites where the notes say it.
KNOWN = {
    "foreign-nationals-02": [("typo", "title_fa", "the table prints «صدرو» for «صدور» (issuing); "
                              "kept as printed (notes 001-partA §2, §5 OCR list)")],
    "urban-councils-26": [("typo", "title_fa", "the table prints «همسازسازی»; the diagram block "
                           "prints «همسانسازی» (harmonisation); kept as printed (notes 001-partB §1.2, §5.6)")],
    "urban-councils-35": [("typo", "title_fa", "«شوراهای» is printed where «شوراها» is meant "
                           "(notes 001-partB §5.6); kept as printed")],
    "urban-councils-33": [("contradiction", "scope", "the title ends «(مشترک)» (shared) but the star "
                           "is in the اختصاصی (exclusive) column; recorded as exclusive, which matches "
                           "Table 1's 8 exclusive")],
    "crisis-management-11": [("ambiguous", "parent_id", "the parent labels are printed below the table "
                              "without row spans; row 10's ID (18052172102) puts it under the training "
                              "parent 18052172000, row 11 is assumed to follow it")],
    "planning-budget-transformation-09": [("other", "booklet_row", "the printed row number is "
                                           "replaced by the parent label «آموزش»; row 9 by position")],
    "political-elections-divisions-09": [("other", "title_fa", "the table title lacks «مجوز» "
                                          "(permit); the diagram title has «صدور مجوز کرسی های …»")],
}

# Why an office's decoded flags cannot reproduce its Table 1 figures.
COUNT_CAUSES = {
    "investment-employment": "table rows 8-16 are scrambled (sub-service titles slid across "
    "columns; 16 printed rows for 17 services) and every printed row carries a client star, so "
    "the 13 'with clients' of Table 1 cannot be told apart from the 17 starred",
    "political-elections-divisions": "the raw client column is starred for rows 1-19 and 22-26 "
    "(24 rows, several of them shifted one column right) against 18 in Table 1; which 6 stars are "
    "spurious is not recoverable",
    "security-law-enforcement": "rows 4-11 carry a star in the client column (shifted right) and "
    "row 3 is starred under عمومی although the office has no general service; 10 client stars "
    "against 4 in Table 1",
    "social-cultural": "rows 5-11 have single stars in the client column or under عمومی (the office "
    "has no general service); the client reading of rows 5, 6, 10 and 11 is unknown",
    "technical-transport-traffic": "rows 3-12 carry a single star in the client column (row 8 under "
    "عمومی); read one column left they give Table 1's 1 exclusive / 13 shared, but then whether "
    "they have clients is unknown (4 certain against 8 in Table 1)",
    "rural-councils": "only 12 of the 18 rows are printed and rows 7, 9 and 10 are starred under "
    "عمومی although Table 1 gives the office no general service",
    "administrative-financial": "the three printed tables (rows 1-19 normal, 20-44 reversed with 3 "
    "flag columns, 45-57 reversed with 4) give 25 general / 32 shared / 15 with clients; no "
    "consistent column reading gives Table 1's 39 / 18 / 14, so the flags are kept as printed",
}


def flag_discrepancies(row: NoteRow, line: int) -> list[dict]:
    out = []
    raw = row.raw
    if "garbled" in raw or "garbled" in row.note:
        out.append({"kind": "scrambled-table", "field": "title_fa",
                    "description": "table rows 8-16 of this office are scrambled: sub-service "
                    "titles slid across the parent and sub-service columns (16 printed rows for 17 "
                    "services); this row was reconstructed from the printed cells and the 17 "
                    f"diagram blocks; raw flags {raw!r}",
                    "source": src(line)})
    elif raw and direct_reading(raw) != (row.scope, row.clients):
        kind = "ambiguous" if row.uncertain else "shifted-flags"
        out.append({"kind": kind, "field": "scope" if direct_reading(raw)[0] != row.scope else "has_clients",
                    "description": f"raw stars E·G·S·C(·x) = {raw!r}; read as {row.scope}, "
                    f"clients={row.clients}" + (f"; {row.note}" if row.note else ""),
                    "source": src(line)})
    for name in row.uncertain:
        if not any(d["kind"] == "ambiguous" for d in out):
            out.append({"kind": "ambiguous", "field": name,
                        "description": f"uncertain reading of the flags (raw {raw!r})"
                        + (f"; {row.note}" if row.note else ""), "source": src(line)})
    return out


def direct_reading(raw: str) -> tuple[str, bool | None]:
    stars = (raw + "-----")[:4]
    scope = [s for s, c in zip(("exclusive", "general", "shared"), stars[:3], strict=False) if c == "*"]
    return (scope[0] if len(scope) == 1 else "unknown"), stars[3] == "*"


def note_discrepancies(row: NoteRow, line: int) -> list[dict]:
    """The notes' remarks on IDs and order (flag remarks are handled by ``flag_discrepancies``)."""
    note = row.note
    if re.search(r"ID prefix|group code", note):
        return [{"kind": "other", "field": "service_id", "source": src(line),
                 "description": f"{note}; the ID is kept as printed"}]
    if "listed before" in note:
        return [{"kind": "other", "field": "service_id", "source": src(line),
                 "description": f"out-of-sequence ID: {note}"}]
    return []


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------


def build_office(seed: Seed, office: Office, rows: list[NoteRow], region, restore, report) -> list[dict]:
    heading, start, end = region
    deputy_line = deputy_heading(seed, heading)
    entries, cursor = [], start
    for row in rows:
        found = locate_title(seed, row.title, cursor, end) or locate_title(seed, row.title, start, end)
        if not found:
            report.append(f"NOT FOUND {office.slug}-{row.row:02d}: {row.title}")
            continue
        line, printed = found
        cursor = line
        slug = f"{office.slug}-{row.row:02d}"
        if row.service_id and row.service_id not in seed.keys[line - 1]:
            report.append(f"ID {row.service_id} not on line {line} for {slug}")
        entry = {
            "slug": slug, "service_id": row.service_id, "parent_id": "",
            "parent_title_fa": "", "parent_title_en": row.parent_en, "booklet_row": row.row,
            "title_fa": restore(printed), "title_en": row.english, "kind": "sub-service",
            "deputy": office.deputy, "office": office.slug, "hosting_service": office.hosting,
            "scope": row.scope, "has_clients": row.clients,
            "documents": [], "laws": [], "outputs": [], "steps": [],
            "provenance": {"title_fa": src(line), "office": src(heading), "deputy": src(deputy_line),
                           "service_id": src(line), "scope": src(line), "has_clients": src(line),
                           "booklet_row": src(line)},
            "discrepancies": KNOWN.get(slug, []),
        }
        entry["discrepancies"] = [dict(zip(("kind", "field", "description"), d, strict=False), source=src(line))
                                  for d in entry["discrepancies"]]
        add_parent(seed, entry, row, start, end, restore)
        entry["discrepancies"] += flag_discrepancies(row, line) + note_discrepancies(row, line)
        entries.append(entry)
    return entries


def add_parent(seed: Seed, entry: dict, row: NoteRow, start: int, end: int, restore) -> None:
    if not row.parent_fa:
        return
    where = locate_phrase(seed, row.parent_fa, start, end)
    if where is None:
        return
    a, b = where
    entry["parent_title_fa"] = restore(printed_phrase(seed, row.parent_fa, a, b))
    entry["provenance"]["parent_title_fa"] = src(a, b)
    printed = row.parent_id_printed
    if not printed:
        return
    id_line = seed.find(printed, start, end)
    id_src = src(id_line) if id_line else src(a, b)
    if re.fullmatch(r"\d{11}", printed):
        entry["parent_id"] = printed
        entry["provenance"]["parent_id"] = id_src
    if row.parent_id_probable:
        entry["discrepancies"].append({
            "kind": "malformed-id", "field": "parent_id", "source": id_src,
            "description": f"parent ID printed «{printed}» ({len(printed)} digits); its sub-service IDs "
            f"({entry['service_id'] or '100121691xx'}) suggest {row.parent_id_probable}"
            + ("; left empty" if not entry["parent_id"] else "; kept as printed")})


def printed_phrase(seed: Seed, phrase: str, a: int, b: int) -> str:
    """The seed's own wording of a phrase found on lines a..b (cells, tags and brackets dropped)."""
    target = squash(phrase)
    for n in range(a, b + 1):
        for cell in seed.cells(n) or [seed.line(n)]:
            text = re.sub(r"\(\s*[0-9۰-۹]+\s*\)", "", _TAGS.sub(" ", cell))
            text = text.replace("(ادامه)", "")
            if squash(text) == target or (target in squash(text) and len(squash(text)) - len(target) < 4):
                return re.sub(r"\s+", " ", text).strip()
    return phrase  # split over rows: the notes' joined wording, which the seed holds in two parts


def add_diagrams(seed: Seed, entries: list[dict], rows: list[NoteRow], blocks: list[Block], restore) -> None:
    matched = align(rows, blocks)
    used: set[int] = set()
    for index, (block, how) in sorted(matched.items(), key=lambda item: item[1][0].box):
        entry = entries[index]
        for text, a, b in block.items:
            if LAW_WORDS.search(letters(text)):
                entry["laws"].append(law_reference(text, a, b, restore))
            else:
                entry["documents"].append({"text": restore(text), "source": src(a, b)})
        entry["steps"] = read_steps(seed, block, restore, used)
        if how == "position" and (block.items or entry["steps"]):
            entry["discrepancies"].append({
                "kind": "other", "field": "documents", "source": src(block.first, block.last),
                "description": "the diagram block has no legible title in the seed; it is "
                "assigned to this service by its position between two titled blocks"})


def count_discrepancy(office: Office, entries: list[dict], table1: dict, office_line: int) -> dict | None:
    got = {"services": len(entries),
           "exclusive": sum(e["scope"] == "exclusive" for e in entries),
           "general": sum(e["scope"] == "general" for e in entries),
           "shared": sum(e["scope"] == "shared" for e in entries),
           "with_clients": sum(e["has_clients"] is True for e in entries)}
    want = table1["table1"]
    if got == want:
        return None
    unknown = sum(e["has_clients"] is None for e in entries)
    diff = ", ".join(f"{k} {got[k]} vs {want[k]}" for k in want if got[k] != want[k])
    cause = COUNT_CAUSES.get(office.slug, "see the row discrepancies")
    return {"kind": "contradiction", "field": "scope",
            "description": f"office totals differ from Table 1 (line {table1['line']}): {diff}"
            + (f" ({unknown} rows with unknown client flag)" if unknown else "") + f"; cause: {cause}",
            "source": src(office_line, entries[-1]["provenance"]["title_fa"]["line_end"])}


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def compact(entry: dict) -> dict:
    """Drop empty optional fields so the YAML stays readable (the schema defaults them)."""
    keep = {"slug", "title_fa", "title_en", "kind", "deputy", "office", "hosting_service",
            "scope", "has_clients", "provenance", "service_id"}
    return {k: v for k, v in entry.items() if k in keep or v not in ("", [], None)}


def dump(path: Path, data: dict, header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)
    path.write_text(header + text, encoding="utf-8")


def main(out: Path = REPO) -> int:
    seed = Seed(SEED_PATH)
    restore = ZwnjRestorer("\n".join(seed.lines))
    notes = parse_notes()
    regions = office_regions(seed)
    table1_src, table1 = read_table1(seed, table1_english(), restore)
    report: list[str] = []

    # diagram regions: from the end of a deputy's last table to the next deputy's first table
    deputy_offices = {d: [o for o in OFFICES if o.deputy == d] for d in DEPUTIES}
    starts = [regions[offices[0].slug][0] for offices in deputy_offices.values()] + [len(seed.lines) + 1]

    all_entries: dict[str, list[dict]] = {}
    for k, offices in enumerate(deputy_offices.values()):
        rows, entries = [], []
        for office in offices:
            office_rows_ = notes.get(office.slug, [])
            built = build_office(seed, office, office_rows_, regions[office.slug], restore, report)
            if len(built) != len(office_rows_):
                report.append(f"{office.slug}: {len(built)} of {len(office_rows_)} rows located")
            all_entries[office.slug] = built
            rows += office_rows_
            entries += built
        first = regions[offices[-1].slug][2] + 1
        blocks = read_blocks(seed, first, starts[k + 1] - 1)
        add_diagrams(seed, entries, rows, blocks, restore)

    rural = all_entries["rural-councils"]
    rural_heading = regions["rural-councils"][0]
    rural[-1]["discrepancies"].append({
        "kind": "missing-rows", "field": "office", "source": src(rural_heading, rural[-1]["provenance"]["title_fa"]["line_end"]),
        "description": "the office heading and Table 1 say 18 services, but the table prints only "
        "rows 1-12; rows 13-18 (titles, IDs, flags) are missing from the extracted text. The diagram "
        "section (lines ~2977-3063) has blocks for processes not in the table (conscript firefighters "
        "via the National Municipalities & Dehyaris Organization; a process «…از طریق معاونت توسعه "
        "روستایی و مناطق محروم نهاد ریاست جمهوری»; evaluating municipalities and dehyaris; dehyars' "
        "disciplinary bylaw; training of dehyaris and rural councils) that may be some of them; no "
        "entries are created for them"})

    for office in OFFICES:
        entries = all_entries[office.slug]
        extra = count_discrepancy(office, entries, table1[office.slug], regions[office.slug][0])
        if extra:
            entries[-1]["discrepancies"].append(extra)
        package = "ostan_" + office.hosting.replace("-", "_")
        path = out / "services" / office.hosting / "src" / package / "catalogue" / f"booklet-{office.slug}.yaml"
        data = {"entries": [compact(e) for e in entries]}
        CatalogueFile.model_validate(data)
        dump(path, data, f"# Generated by tools/catalogue/build_booklet.py from seed {SEED_NAME}; "
             "do not edit by hand.\n")

    governorate_line = seed.find("جدول ۱) نمای کلی فرآیندها و خدمات")
    governorate_fa = re.search(r"استانداری\s+\S+", seed.line(governorate_line)).group(0)
    organisation = {
        "source": table1_src,
        "governorate": {
            "slug": "qazvin-governorate", "title_fa": governorate_fa, "title_en": "Qazvin Governorate",
            # The province it governs; the code is ISO 3166-2:IR's (pycountry knows it).
            "province": {"title_fa": governorate_fa.replace("استانداری", "استان", 1),
                         "title_en": "Qazvin Province", "iso_3166_2": "IR-26"},
            "source": src(governorate_line),
        },
        "deputies": [{"slug": r["slug"], "title_fa": r["title_fa"], "title_en": r["title_en"],
                      "table1": r["table1"], "source": src(r["line"])}
                     for r in table1.values() if r["kind"] == "deputy"],
        "offices": [{"slug": r["slug"], "deputy": OFFICE[r["slug"]].deputy,
                     "hosting_service": OFFICE[r["slug"]].hosting, "title_fa": r["title_fa"],
                     "title_en": r["title_en"], "table1": r["table1"], "source": src(r["line"])}
                    for r in table1.values() if r["kind"] == "office"],
    }
    dump(out / "kit" / "src" / "ostan_kit" / "catalogue" / "data" / "organisation.yaml", organisation,
         f"# Booklet Table 1 (seed {SEED_NAME}); generated by tools/catalogue/build_booklet.py.\n")

    for line in report:
        print(line, file=sys.stderr)
    for office in OFFICES:
        print(f"{office.slug:34s} {len(all_entries[office.slug]):3d} entries")
    return 1 if any(line.startswith("NOT FOUND") for line in report) else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO))
