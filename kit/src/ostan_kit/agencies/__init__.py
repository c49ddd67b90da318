"""The agencies that may be given events: slugs and names, as data (``agencies.yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

DATA = Path(__file__).with_name("agencies.yaml")


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
    title_fa: str
    title_en: str


@cache
def agencies() -> dict[str, Agency]:
    items = [Agency.model_validate(item) for item in yaml.safe_load(DATA.read_text())["agencies"]]
    return {agency.slug: agency for agency in items}


def load_agencies() -> list[str]:
    return list(agencies())
