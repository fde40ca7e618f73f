"""Policy configuration: ``[tool.sdk.policy]`` in ``pyproject.toml`` and inline suppressions."""

from __future__ import annotations

import fnmatch
import io
import re
import tokenize
import tomllib
from pathlib import Path
from typing import Any

import attrs

from sdk.errors import PolicyError
from sdk.policy.rules import DEFAULT_ALLOWED_IMPORTS, RULES, top_module

__all__ = ["PolicyConfig", "load_config", "suppressions"]

_SUPPRESSION = re.compile(r"#\s*sdk:\s*allow\[([A-Za-z0-9_,\s]*)\](.*)")


@attrs.frozen
class PolicyConfig:
    """``[tool.sdk.policy]``: rules switched off or on, extra allowed imports, path overrides.

    Attributes:
        root: the folder of the ``pyproject.toml`` (override paths are relative to it).
        disable: rule ids switched off.
        enable: rule ids switched on (opt-in rules such as SDK109).
        allow_imports: top-level modules allowed besides the default list.
        overrides: ``(path globs, disable, enable)`` applied to matching files.
    """

    root: Path | None = None
    disable: frozenset[str] = frozenset()
    enable: frozenset[str] = frozenset()
    allow_imports: frozenset[str] = frozenset()
    overrides: tuple[tuple[tuple[str, ...], frozenset[str], frozenset[str]], ...] = ()

    @property
    def allowed(self) -> frozenset[str]:
        """Every top-level module that may be imported."""
        return frozenset(DEFAULT_ALLOWED_IMPORTS) | self.allow_imports

    def rules_for(self, path: str | Path) -> frozenset[str]:
        """The rule ids in force for ``path``."""
        rules = {r.id for r in RULES.values() if r.is_default}
        rules = (rules - self.disable) | self.enable
        relative = Path(path).resolve()
        if self.root is not None and relative.is_relative_to(self.root):
            relative = relative.relative_to(self.root)
        for globs, disable, enable in self.overrides:
            if any(fnmatch.fnmatch(relative.as_posix(), g) for g in globs):
                rules = (rules - disable) | enable
        return frozenset(rules)


def _rule_ids(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where} must be a list of rule ids, got {value!r}")
    unknown = sorted(set(value) - set(RULES))
    if unknown:
        raise PolicyError(
            f"{where}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}"
        )
    return frozenset(value)


def load_config(start: str | Path) -> PolicyConfig:
    """Read ``[tool.sdk.policy]`` from the nearest ``pyproject.toml`` at or above ``start``.

    Raises:
        PolicyError: the table has unknown keys, unknown rule ids or values of the wrong type.
    """
    folder = Path(start).resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{pyproject}: not valid TOML: {exc}") from None
        table = data.get("tool", {}).get("sdk", {}).get("policy")
        if table is None:
            continue
        where = f"{pyproject} [tool.sdk.policy]"
        unknown = sorted(set(table) - {"disable", "enable", "allow_imports", "overrides"})
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}")
        imports = table.get("allow_imports", [])
        if not isinstance(imports, list) or not all(isinstance(v, str) for v in imports):
            raise PolicyError(f"{where}: allow_imports must be a list of module names")
        overrides = []
        for i, item in enumerate(table.get("overrides", [])):
            paths = item.get("paths") if isinstance(item, dict) else None
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise PolicyError(f'{where}: overrides[{i}] needs paths = ["glob", ...]')
            overrides.append(
                (
                    tuple(paths),
                    _rule_ids(item.get("disable", []), f"{where} overrides[{i}].disable"),
                    _rule_ids(item.get("enable", []), f"{where} overrides[{i}].enable"),
                )
            )
        return PolicyConfig(
            root=candidate,
            disable=_rule_ids(table.get("disable", []), f"{where} disable"),
            enable=_rule_ids(table.get("enable", []), f"{where} enable"),
            allow_imports=frozenset(top_module(m) for m in imports),
            overrides=tuple(overrides),
        )
    return PolicyConfig()


def suppressions(lines: list[str]) -> dict[int, tuple[frozenset[str], str]]:
    """``# sdk: allow[RULE,...] reason`` comments by line: the rule ids and the reason."""
    found: dict[int, tuple[frozenset[str], str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("".join(lines)).readline))
    except (tokenize.TokenError, SyntaxError):
        return found
    for token in tokens:
        if token.type == tokenize.COMMENT and (m := _SUPPRESSION.search(token.string)):
            ids = frozenset(r.strip().upper() for r in m.group(1).split(",") if r.strip())
            found[token.start[0]] = (ids, m.group(2).strip())
    return found
