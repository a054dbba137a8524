"""The rules engine: legal instruments as YAML with CEL conditions, evaluated "as of" a date."""

from modelwarden.rules.engine import evaluate
from modelwarden.rules.loader import RuleSet, load_rules

__all__ = ["RuleSet", "evaluate", "load_rules"]
