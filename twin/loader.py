"""Load a twin YAML file; every error names the file, the line and the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from core.errors import TwinLoadError
from twin.model import TwinSpec


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line_of(root: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node on `loc` that exists."""
    line: int | None = getattr(getattr(root, "lc", None), "line", None)
    node = root
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0]
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0]
            node = node[part]
        else:
            break
    return None if line is None else line + 1


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _ids(root: Any) -> Iterator[tuple[str, str, tuple[int | str, ...]]]:
    """(what, id, loc) of every site, building, space and device."""

    def spaces(spaces: Any, base: tuple[int | str, ...]) -> Iterator[tuple[str, str, tuple[int | str, ...]]]:
        for k, space in enumerate(spaces or []):
            yield "space", str(space.get("id")), (*base, k, "id")
            for d, dev in enumerate(space.get("devices") or []):
                yield "device", str(dev.get("id")), (*base, k, "devices", d, "id")
                if dev.get("gateway") is not None:
                    yield "uses-gateway", str(dev.get("gateway")), (*base, k, "devices", d, "gateway")

    for s, site in enumerate(root.get("sites") or []):
        yield "site", str(site.get("id")), ("sites", s, "id")
        for g, gw in enumerate(site.get("gateways") or []):
            yield "gateway", str(gw.get("id")), ("sites", s, "gateways", g, "id")
        yield from spaces(site.get("spaces"), ("sites", s, "spaces"))
        for b, bld in enumerate(site.get("buildings") or []):
            yield "building", str(bld.get("id")), ("sites", s, "buildings", b, "id")
            for f, floor in enumerate(bld.get("floors") or []):
                yield from spaces(floor.get("spaces"), ("sites", s, "buildings", b, "floors", f, "spaces"))


# devices and gateways share one namespace: both are MQTT clients named in availability topics
_NAMESPACE = {"device": "endpoint", "gateway": "endpoint"}


def _check_ids(root: Any, filename: str) -> None:
    """Every id unique within its kind; every device's gateway declared."""
    where: dict[tuple[str, str], list[tuple[int, str, tuple[int | str, ...]]]] = {}
    uses: list[tuple[str, tuple[int | str, ...]]] = []
    for what, ident, loc in _ids(root):
        if what == "uses-gateway":
            uses.append((ident, loc))
            continue
        key = (_NAMESPACE.get(what, what), ident)
        where.setdefault(key, []).append((_line_of(root, loc) or 0, what, loc))
    for (_, ident), places in where.items():
        if len(places) > 1:
            places.sort()
            (first, _, _), (_, what, loc) = places[0], places[1]
            raise TwinLoadError(
                f"{what} id {ident!r} is used twice (first on line {first}); ids must be unique",
                file=filename,
                line=_line_of(root, loc),
                field=_field_path(loc),
            )
    gateways = {ident for (ns, ident), places in where.items() if places[0][1] == "gateway"}
    for ident, loc in uses:
        if ident not in gateways:
            raise TwinLoadError(
                f"gateway {ident!r} is not declared; add it under the site's 'gateways'",
                file=filename,
                line=_line_of(root, loc),
                field=_field_path(loc),
            )


def parse_twin(text: str, filename: str = "<twin>") -> TwinSpec:
    """Parse and validate twin YAML text."""
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise TwinLoadError(f"not valid YAML: {err.problem}", file=filename, line=line) from err
    if not isinstance(root, CommentedMap):
        raise TwinLoadError("a twin file is a mapping with 'name' and 'sites'", file=filename, line=1)
    try:
        spec = TwinSpec.model_validate(_plain(root))
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        more = f" (and {err.error_count() - 1} more errors)" if err.error_count() > 1 else ""
        raise TwinLoadError(
            f"{first['msg']}{more}", file=filename, line=_line_of(root, loc), field=_field_path(loc)
        ) from err
    _check_ids(root, filename)
    return spec


def load_twin_file(path: Path) -> TwinSpec:
    """Read and validate a twin YAML file (a `.json` file, as generated twins are, loads much faster)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TwinLoadError(f"cannot read the twin file: {err.strerror}", file=str(path)) from err
    if path.suffix == ".json":
        try:
            root = orjson.loads(text)
            spec = TwinSpec.model_validate(root)
        except (orjson.JSONDecodeError, ValidationError):
            return parse_twin(text, str(path))  # the YAML parser names the line of the error
        _check_ids(root, str(path))
        return spec
    return parse_twin(text, str(path))
