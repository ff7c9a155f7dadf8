"""Account fixtures: every store test runs on a SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accounts.service import AccountService
from accounts.store import AccountStore
from core.settings import AuthSettings
from tests.fixtures.postgres import PostgresDatabase
from twin.loader import parse_twin
from twin.twin import Twin

TWIN_YAML = """\
version: 1
name: 账户测试
parties:
  - {id: pm-a, name: 甲物业, kind: property_company}
  - {id: shop-b, name: 乙商户, kind: enterprise}
sites:
  - id: a
    name: 甲社区
    kind: community
    location: {lat: 22.72, lon: 114.05}
    parties: {owner: pm-a}
    buildings:
      - id: a-b1
        name: 甲1栋
        location: {lat: 22.721, lon: 114.051}
        floors: [{level: 1, name: 1F, spaces: [{id: a-b1-k, name: 厨房, kind: kitchen}]}]
      - id: a-b2
        name: 甲2栋
        party: shop-b
        location: {lat: 22.722, lon: 114.052}
        floors: [{level: 1, name: 1F, spaces: [{id: a-b2-k, name: 后厨, kind: kitchen}]}]
    spaces:
      - {id: a-septic, name: 化粪池, kind: septic_tank, location: {lat: 22.7201, lon: 114.0501}}
  - id: c
    name: 丙工地
    kind: construction_site
    location: {lat: 22.73, lon: 114.06}
    buildings:
      - id: c-b1
        name: 丙1栋
        location: {lat: 22.731, lon: 114.061}
"""


@pytest.fixture(scope="session")
def twin() -> Twin:
    return Twin(parse_twin(TWIN_YAML, "accounts-twin.yaml"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file, or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/accounts.db"
    database: PostgresDatabase = request.getfixturevalue("postgres")
    return database.url


@pytest.fixture
def accounts(db_url: str, twin: Twin) -> Iterator[AccountService]:
    store = AccountStore(db_url)
    store.open()
    yield AccountService(store, twin, AuthSettings(login_max_failures=3, login_window_s=60))
    store.close()
