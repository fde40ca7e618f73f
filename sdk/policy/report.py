"""What a policy check found: :class:`Finding` and :class:`PolicyReport` (text, JSON, SARIF)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs

from sdk.policy.config import PolicyConfig, suppressions
from sdk.policy.rules import RULES

__all__ = ["Collector", "Finding", "PolicyReport", "shown"]

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@attrs.frozen(order=True)
class Finding:
    """One breach of the policy, located in a file.

    Attributes:
        path: the file (relative to the working directory when under it).
        line: 1-based line.
        col: 1-based column.
        rule: the rule id, e.g. ``SDK102``.
        message: what was found.
    """

    path: str
    line: int
    col: int
    rule: str
    message: str

    @property
    def alternative(self) -> str:
        """What to do instead (from the rule)."""
        return RULES[self.rule].alternative

    def __str__(self) -> str:
        name = RULES[self.rule].name
        return (
            f"{self.path}:{self.line}:{self.col}: {self.rule} [{name}] {self.message}; "
            f"instead: {self.alternative}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {
            **attrs.asdict(self),
            "name": RULES[self.rule].name,
            "alternative": self.alternative,
        }


@attrs.frozen
class PolicyReport:
    """The result of a policy check: findings sorted by file, line and column.

    Attributes:
        findings: every finding not suppressed.
        files: the files that were read.
        seconds: how long the check took.
    """

    findings: tuple[Finding, ...]
    files: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def is_clean(self) -> bool:
        """Whether there is no finding."""
        return not self.findings

    def to_text(self) -> str:
        """One line per finding, then a summary line."""
        lines = [str(f) for f in self.findings]
        lines.append(
            f"{len(self.findings)} finding(s) in {len(self.files)} file(s) ({self.seconds:.2f}s)"
        )
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as a JSON document."""
        return json.dumps(
            {
                "findings": [f.as_dict() for f in self.findings],
                "files": list(self.files),
                "seconds": round(self.seconds, 4),
            },
            indent=2,
        )

    def to_sarif(self) -> str:
        """The report as a SARIF 2.1.0 log (one run, every rule described)."""
        ids = list(RULES)
        rules = [
            {
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "help": {"text": r.alternative},
                "defaultConfiguration": {"enabled": r.is_default, "level": "error"},
            }
            for r in RULES.values()
        ]
        results = [
            {
                "ruleId": f.rule,
                "ruleIndex": ids.index(f.rule),
                "level": "error",
                "message": {"text": f"{f.message}; instead: {f.alternative}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(f.path)},
                            "region": {"startLine": f.line, "startColumn": f.col},
                        }
                    }
                ],
            }
            for f in self.findings
        ]
        from sdk import __version__

        tool = {"driver": {"name": "sdk check", "version": __version__, "rules": rules}}
        log = {
            "$schema": _SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{"tool": tool, "results": results}],
        }
        return json.dumps(log, indent=2)

    def format(self, kind: str) -> str:
        """Render as ``text``, ``json`` or ``sarif``."""
        return {"text": self.to_text, "json": self.to_json, "sarif": self.to_sarif}[kind]()


def _uri(path: str) -> str:
    """A SARIF artifact URI: relative paths stay relative (code scanning resolves them against
    the checkout), absolute ones become ``file:`` URIs; both percent-encoded."""
    shown = Path(path)
    return shown.as_uri() if shown.is_absolute() else quote(shown.as_posix())


def shown(path: str | Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    resolved = Path(path).resolve()
    cwd = Path.cwd().resolve()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(path)


class Collector:
    """Gathers raw findings per file, then applies rule selection and inline suppressions."""

    def __init__(self) -> None:
        self.raw: dict[str, set[tuple[int, int, str, str]]] = {}
        self.lines: dict[str, list[str]] = {}
        self.configs: dict[str, PolicyConfig] = {}

    def add(self, path: str, node: ast.AST | None, rule: str, message: str) -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        self.raw.setdefault(path, set()).add((line, col, rule, message))

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        for path, raw in self.raw.items():
            config = self.configs.get(path) or PolicyConfig()
            rules = config.rules_for(path)
            allows = suppressions(self.lines.get(path, []))
            for line, reason_rules in allows.items():
                if "SDK108" in rules and not reason_rules[1]:
                    found.append(
                        Finding(shown(path), line, 1, "SDK108", "suppression without a reason")
                    )
            for line, col, rule, message in raw:
                allowed = allows.get(line, (frozenset(), ""))[0]
                if rule in rules and rule not in allowed:
                    found.append(Finding(shown(path), line, col, rule, message))
        for path in self.lines:  # files with suppressions but no findings
            if path not in self.raw:
                config = self.configs.get(path) or PolicyConfig()
                if "SDK108" in config.rules_for(path):
                    found += [
                        Finding(shown(path), line, 1, "SDK108", "suppression without a reason")
                        for line, (_, reason) in suppressions(self.lines[path]).items()
                        if not reason
                    ]
        return sorted(set(found))
