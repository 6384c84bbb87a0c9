"""Loading and rendering notification templates.

Templates are Jinja2 files. A ``[templates] path`` folder in the config
overrides the packaged files by name; anything it lacks comes from the
package. Every environment is sandboxed with ``StrictUndefined``, so a typo
in a variable name is an error at ``dqwatch check`` rather than an empty
line in a message. Output escaping depends on where text goes:

- ``html``: HTML autoescape (email bodies, digests);
- ``slack``: every ``{{ value }}`` has ``&``, ``<`` and ``>`` escaped, so an
  event named ``<!channel>`` can never ping anyone (Slack's own rule:
  those three characters are all its control sequences need);
- ``text``: no escaping (plain-text email parts, the console).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment

Flavour = Literal["html", "slack", "text"]

PACKAGED = "data/templates"


def slack_escape(value: object) -> str:
    """Text made safe for Slack mrkdwn: ``&``, ``<``, ``>`` as entities."""
    if value is None:
        return ""
    if isinstance(value, jinja2.runtime.Undefined):
        return str(value)
    text = str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Templates:
    """The template set: user folder first, packaged files after."""

    def __init__(self, user_folder: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if user_folder is not None:
            loaders.append(jinja2.FileSystemLoader(str(user_folder)))
        loaders.append(jinja2.PackageLoader("dqwatch", PACKAGED))
        self._loader = jinja2.ChoiceLoader(loaders)
        self._environments = {
            flavour: self._environment(flavour) for flavour in ("html", "slack", "text")
        }

    def _environment(self, flavour: Flavour) -> SandboxedEnvironment:
        options: dict[str, Any] = {
            "loader": self._loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
            "autoescape": flavour == "html",
        }
        if flavour == "slack":
            options["finalize"] = slack_escape
        return SandboxedEnvironment(**options)

    def render(self, flavour: Flavour, name: str, variables: Mapping[str, Any]) -> str:
        """Render template ``name`` with the given flavour of escaping."""
        template = self._environments[flavour].get_template(name)
        return template.render(**variables)

    def names(self) -> list[str]:
        """Every template name available (user and packaged)."""
        return sorted(set(self._loader.list_templates()))
