"""Sensitive-information detection: rules as data (``builtin.toml`` + operator files) and
the ``SecretScanner`` content scanner that applies them during the layer walk."""

from imagewarden.scan.secrets.rules import Allow, Rule, RuleError, SecretRules
from imagewarden.scan.secrets.scanner import MASK, SecretMatch, SecretScanner

__all__ = ["MASK", "Allow", "Rule", "RuleError", "SecretMatch", "SecretRules", "SecretScanner"]
