"""Persian-aware catalogue search: ranked, title before goal before documents.

Every field and every query term is compared in ``search_key`` form (kit's normalisation without
ZWNJ or spaces, case-folded), so Arabic ي/ك, ZWNJ present or absent, diacritics, tatweel and
Persian, Arabic or ASCII digits all find the same entries. A query matches an entry when every
term is found in one of its fields; its score adds, per term, the weight of the best field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ostan_kit.text.persian import normalise, search_key

TITLE, GOAL, DETAIL = 100, 10, 1
# Words are split on white space and punctuation of either script; a ZWNJ stays inside its word.
_SPLIT = re.compile(r"[\s.,;:!?()\[\]{}«»\"'،؛؟/\\|\-_+*=<>#@&%^~`]+")
# Typed with a space where a ZWNJ belongs («سازمان های», «می شود»), these join their neighbour.
_SUFFIXES = {"ها", "های", "هایی", "ای", "ی", "ام", "ات", "اش", "مان", "تان", "شان", "تر", "ترین"}
_PREFIXES = {"می", "نمی"}


def query_terms(query: str) -> list[str]:
    """The distinct search keys of the query's words, in order; empty for a query without text."""
    return list(_terms(query))


# Normalising a query cost as much as searching for it; people ask the same few things.
@functools.lru_cache(maxsize=1024)  # at most 1024 queries of MAX_QUERY characters
def _terms(query: str) -> tuple[str, ...]:
    words = [search_key(word) for word in _SPLIT.split(normalise(query))]
    joined: list[str] = []
    pending = ""
    for word in filter(None, words):
        if word in _PREFIXES:
            pending += word
        elif word in _SUFFIXES and joined and not pending:
            joined[-1] += word
        else:
            joined.append(pending + word)
            pending = ""
    if pending:
        joined.append(pending)
    return tuple(dict.fromkeys(joined))


def _texts(values: Iterable[Any], key: str) -> list[str]:
    return [value[key] for value in values if isinstance(value, dict) and value.get(key)]


@dataclass(frozen=True)
class _Indexed:
    entry: dict[str, Any]
    fields: tuple[tuple[str, int], ...]  # (field key, weight), strongest first


def _index(entry: dict[str, Any]) -> _Indexed:
    title = " ".join(
        str(entry.get(name, "")) for name in ("title_fa", "title_en", "service_id", "slug", "parent_title_fa")
    )
    goal = " ".join([entry.get("goal", ""), entry.get("description", "")])
    detail = " ".join(
        _texts(entry.get("documents", []), "text")
        + _texts(entry.get("laws", []), "title")
        + _texts(entry.get("laws", []), "number")
        + _texts(entry.get("outputs", []), "text")
        + _texts(entry.get("steps", []), "text")
        + _texts(entry.get("recipients", []), "text")
        + _texts(entry.get("agencies", []), "agency")
    )
    return _Indexed(entry, ((search_key(title), TITLE), (search_key(goal), GOAL), (search_key(detail), DETAIL)))


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


class SearchIndex:
    """Entries with, for every trigram of their fields, a bitset of the entries that have it:
    a term's candidates are the AND of its trigrams' bitsets, so only they are checked."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self._indexed = [_index(entry) for entry in entries]
        self._everything = (1 << len(self._indexed)) - 1
        postings: dict[str, int] = {}
        for position, indexed in enumerate(self._indexed):
            bit = 1 << position
            for gram in _trigrams(" ".join(text for text, _ in indexed.fields)):
                postings[gram] = postings.get(gram, 0) | bit
        self._postings = postings

    def _candidates(self, terms: list[str]) -> int:
        mask = self._everything
        for term in terms:
            for gram in _trigrams(term):  # a term under three letters narrows nothing here
                mask &= self._postings.get(gram, 0)
                if not mask:
                    return 0
        return mask

    def search(self, terms: list[str]) -> list[tuple[int, dict[str, Any]]]:
        """(score, entry) of every entry that has all ``terms``, best first, then by slug."""
        if not terms:
            return []
        phrase = "".join(terms)
        found: list[tuple[int, dict[str, Any]]] = []
        mask = self._candidates(terms)
        while mask:
            low = mask & -mask
            indexed = self._indexed[low.bit_length() - 1]
            mask ^= low
            score = 0
            for term in terms:
                for text, weight in indexed.fields:  # strongest first: the best field counts
                    if term in text:
                        score += weight
                        break
                else:
                    break  # a term in none of the fields: not a hit
            else:
                if len(terms) > 1 and phrase in indexed.fields[0][0]:
                    score += TITLE  # the words stand together in the title
                found.append((score, indexed.entry))
        found.sort(key=lambda hit: (-hit[0], hit[1]["slug"]))
        return found
