"""Rule engine: threshold, rate-of-rise, exposure, combined, device-health, anomaly, panic and camera
rules over the twin's readings and events.  See docs/rules.md.
"""

from rules.engine import RuleEngine
from rules.errors import RuleError, RuleLoadError, RuleOverrideError
from rules.kinds import PLUGINS, REGISTRY, rule_json_schema
from rules.model import Citation, Rule, RuleTarget
from rules.override import override
from rules.packs import load_packs, parse_pack, shipped_packs
from rules.settings import RuleSettings, WorkingHours

__all__ = [
    "PLUGINS",
    "REGISTRY",
    "Citation",
    "Rule",
    "RuleEngine",
    "RuleError",
    "RuleLoadError",
    "RuleOverrideError",
    "RuleSettings",
    "RuleTarget",
    "WorkingHours",
    "load_packs",
    "override",
    "parse_pack",
    "rule_json_schema",
    "shipped_packs",
]
