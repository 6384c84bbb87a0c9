"""Rule files: what to alert on, written by admins in TOML.

:func:`load_rules` reads rule files into a frozen :class:`RuleSet` of
:class:`Rule` objects, or raises :class:`~dqwatch.errors.RuleError` listing
every problem of every file at once. :func:`resolve_rule_files` expands the
``rules.paths`` patterns of the config file; :func:`packaged_rule_paths`
names the default rules that apply when the config has no ``[rules]``.
:func:`matches_any` is how the glob filters (``events``, ``keys``,
``datasets``) match; ``owners`` lists exact names. ``docs/rules.md``
describes the language.
"""

from dqwatch.rules._globs import matches_any
from dqwatch.rules._load import load_rules, packaged_rule_paths, resolve_rule_files
from dqwatch.rules._model import (
    KINDS,
    SEVERITIES,
    TEMPLATE_VARIABLES,
    Rule,
    RuleKind,
    RuleSet,
    Severity,
    rule_digest,
)
from dqwatch.rules._summaries import default_summary
from dqwatch.rules._table import BUILT_IN_NAMES

__all__ = [
    "BUILT_IN_NAMES",
    "KINDS",
    "SEVERITIES",
    "TEMPLATE_VARIABLES",
    "Rule",
    "RuleKind",
    "RuleSet",
    "Severity",
    "default_summary",
    "load_rules",
    "matches_any",
    "packaged_rule_paths",
    "resolve_rule_files",
    "rule_digest",
]
