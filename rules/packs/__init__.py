"""Rule packs: YAML files of rules shipped with SafeTwin (this package's *.yaml) or a site's own.

The shipped packs sit next to this module, so they install as package data with it.

A pack is a mapping with `pack` (its name), optional `title` and `description`, and `rules` (a list
of rules, each validated as its kind).  Every error names the file, the 1-based line and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from rules.errors import RuleLoadError
from rules.kinds import rule_adapter
from rules.model import Rule

PACKS_DIR = Path(__file__).resolve().parent
_PACK_KEYS = {"pack", "title", "description", "rules"}


def shipped_packs() -> list[Path]:
    """The packs shipped with SafeTwin, by file name."""
    return sorted(PACKS_DIR.glob("*.yaml"))


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _locate(root: Any, loc: Sequence[int | str]) -> tuple[int | None, str]:
    """(1-based line, dotted field path) of the deepest YAML node on `loc` that exists.

    Pydantic puts the discriminator tag of a union member into `loc`; such a part is skipped when
    the mapping at that point has it as its `type`.
    """
    line: int | None = None
    node, path = root, ""
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line, node = node.lc.key(part)[0], node[part]
        elif isinstance(node, CommentedMap) and node.get("type") == part:
            continue
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, node = node.lc.item(part)[0], node[part]
        else:
            path += f".{part}" if path else str(part)
            break
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return (None if line is None else line + 1), path


def parse_pack(text: str, filename: str = "<pack>") -> list[Rule]:
    """Parse and validate the text of one pack."""
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise RuleLoadError(f"not valid YAML: {err.problem}", file=filename, line=line) from err
    if not isinstance(root, CommentedMap) or not isinstance(root.get("rules"), CommentedSeq):
        raise RuleLoadError("a rule pack is a mapping with 'pack' and a list 'rules'", file=filename, line=1)
    for key in root:
        if key not in _PACK_KEYS:
            raise RuleLoadError(
                f"unknown key; a pack has {sorted(_PACK_KEYS)}",
                file=filename,
                line=root.lc.key(key)[0] + 1,
                field=str(key),
            )
    name = str(root.get("pack") or Path(filename).stem)
    rules: list[Rule] = []
    adapter = rule_adapter()
    for i, item in enumerate(root["rules"]):
        data = _plain(item)
        if isinstance(data, dict):
            data.setdefault("pack", name)
        try:
            rules.append(adapter.validate_python(data))
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            loc = (*first["loc"], "type") if first["type"].startswith("union_tag") else first["loc"]
            line, path = _locate(root, ("rules", i, *loc))
            more = f" (and {err.error_count() - 1} more errors)" if err.error_count() > 1 else ""
            raise RuleLoadError(f"{first['msg']}{more}", file=filename, line=line, field=path) from err
    return rules


def load_packs(paths: Sequence[Path] | None = None) -> list[Rule]:
    """Rules of the given pack files (None: the shipped packs); rule ids must be unique across them."""
    files = shipped_packs() if paths is None else [Path(p) for p in paths]
    out: list[Rule] = []
    first: dict[str, str] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise RuleLoadError(f"cannot read the pack: {err.strerror}", file=str(path)) from err
        for r in parse_pack(text, str(path)):
            if r.id in first:
                line = _id_line(text, r.id)
                raise RuleLoadError(
                    f"rule id {r.id!r} is already defined in {first[r.id]}; ids must be unique",
                    file=str(path),
                    line=line,
                    field="id",
                )
            first[r.id] = str(path)
            out.append(r)
    return out


def _id_line(text: str, rule_id: str) -> int | None:
    for n, line in enumerate(text.splitlines(), start=1):
        if (
            line.strip().lstrip("- ").startswith("id:")
            and line.split("id:", 1)[1].strip().strip("'\"") == rule_id
        ):
            return n
    return None
