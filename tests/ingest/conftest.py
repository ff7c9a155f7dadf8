"""A small twin for ingest tests."""

from __future__ import annotations

import pytest

from twin.loader import parse_twin
from twin.twin import Twin

SMALL_TWIN = """
version: 1
name: 测试街道
sites:
  - id: site-a
    name: 新河社区
    location: {lat: 22.70, lon: 114.05}
    buildings:
      - id: bld-1
        name: 1栋
        location: {lat: 22.701, lon: 114.051}
        floors:
          - level: -1
            name: B1
            spaces:
              - id: garage-1
                name: 地下车库
                kind: basement_garage
                devices:
                  - {id: co-1, kind: co_sensor}
                  - {id: co-2, kind: co_sensor, ranges: {co: [0, 500]}}
                  - {id: fan-1, kind: fan}
                  - {id: cam-1, kind: camera}
    spaces:
      - id: tank-1
        name: 化粪池
        kind: septic_tank
        confined: true
        location: {lat: 22.702, lon: 114.052}
        devices:
          - {id: gas-1, kind: multi_gas}
"""


@pytest.fixture
def small_twin() -> Twin:
    return Twin(parse_twin(SMALL_TWIN, "small.yaml"))
