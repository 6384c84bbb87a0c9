"""Scenarios: what a simulated Graph API knows and how it behaves.

A scenario is read once, from a TOML file (:func:`load_scenario`), a
packaged example (:func:`packaged_scenario`) or a dict
(:meth:`Scenario.from_dict`), into frozen models; the simulator never reads
raw dicts. Every problem is reported at once as a
:class:`~dqwatch.errors.ScenarioError` whose entries name the file, line and
key, what is wrong, and how to fix it. The format is documented in
``docs/simulator.md``.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, PrivateAttr, ValidationError

from dqwatch.errors import Problem, ScenarioError
from dqwatch.simulator.fields import FieldSyntaxError, parse_fields
from dqwatch.simulator.schema import SelectionError, dataset_quality_node, plan
from dqwatch.simulator.specs import (
    AppSettings,
    BusinessSpec,
    DatasetSpec,
    FaultSpec,
    GenerateSpec,
    RateLimitSettings,
    SimulatorSettings,
    SpecModel,
    TokenSpec,
)
from dqwatch.tomlpos import KeyPath, key_lines, line_for

__all__ = ["Scenario", "load_scenario", "packaged_scenario", "packaged_scenarios"]

_PACKAGED = "data/scenarios"
_TOML_LINE = re.compile(r"at line (\d+)")
#: Parts of pydantic error locations that name a validator, not a key.
_NOT_A_KEY = re.compile(r"[\[\](]")


class Scenario(SpecModel):
    """A whole scenario. Build it with :meth:`from_dict` or :func:`load_scenario`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    simulator: SimulatorSettings = SimulatorSettings()
    app: AppSettings = AppSettings()
    token: tuple[TokenSpec, ...] = ()
    rate_limit: RateLimitSettings = RateLimitSettings()
    business: tuple[BusinessSpec, ...] = ()
    dataset: tuple[DatasetSpec, ...] = ()
    fault: tuple[FaultSpec, ...] = ()
    generate: GenerateSpec | None = None

    _source: str = PrivateAttr("<inline>")

    @property
    def source(self) -> str:
        """Where the scenario came from: a path, or ``<inline>``."""
        return self._source

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "<inline>",
        *,
        lines: Mapping[KeyPath, int] | None = None,
    ) -> Scenario:
        """Validate ``data`` (parsed TOML) into a scenario.

        ``lines`` maps key paths to line numbers (:func:`dqwatch.tomlpos.key_lines`)
        so problems can name a line; without it they name only the key.
        Raises :class:`~dqwatch.errors.ScenarioError` listing every problem.
        """
        where = lines or {}
        try:
            scenario = cls.model_validate(data)
        except ValidationError as error:
            raise ScenarioError(
                [_from_pydantic(item, source, where) for item in error.errors()]
            ) from None
        problems = [
            Problem(source, line_for(where, path), _key_text(path), message, fix)
            for path, message, fix in _cross_check(scenario)
        ]
        if problems:
            raise ScenarioError(problems)
        scenario._source = source
        return scenario


def load_scenario(path: Path) -> Scenario:
    """Read and validate the scenario file at ``path``.

    Raises :class:`~dqwatch.errors.ScenarioError` when the file cannot be read,
    is not TOML, or describes an invalid scenario.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    None,
                    "",
                    f"cannot read the scenario: {reason}",
                    "check the path and that the file is UTF-8 text",
                )
            ]
        ) from None
    return _from_text(text, str(path))


def packaged_scenarios() -> list[str]:
    """Names of the scenarios shipped with dqwatch (``basic``, ``bench``...)."""
    folder = resources.files("dqwatch").joinpath(_PACKAGED)
    return sorted(
        item.name.removesuffix(".toml")
        for item in folder.iterdir()
        if item.name.endswith(".toml")
    )


def packaged_scenario(name: str) -> Scenario:
    """A scenario shipped with dqwatch, by name (see :func:`packaged_scenarios`)."""
    if name not in packaged_scenarios():
        raise ValueError(
            f"no packaged scenario {name!r}; choose one of "
            f"{', '.join(packaged_scenarios())}"
        )
    resource = resources.files("dqwatch").joinpath(f"{_PACKAGED}/{name}.toml")
    return _from_text(resource.read_text(encoding="utf-8"), f"<packaged {name}.toml>")


def _from_text(text: str, source: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_LINE.search(str(error))
        raise ScenarioError(
            [
                Problem(
                    source,
                    int(found.group(1)) if found else None,
                    "",
                    f"not valid TOML: {error}",
                    "correct the syntax on that line",
                )
            ]
        ) from None
    return Scenario.from_dict(data, source, lines=key_lines(text))


# -- problems ---------------------------------------------------------------


def _from_pydantic(
    item: Mapping[str, Any], source: str, lines: Mapping[KeyPath, int]
) -> Problem:
    path: KeyPath = tuple(
        part
        for part in item["loc"]
        if isinstance(part, int) or not _NOT_A_KEY.search(part)
    )
    message = str(item["msg"]).removeprefix("Value error, ")
    kind = item["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
        fix = "remove it or correct its spelling; " + _valid_keys(path)
    elif kind == "missing":
        message = "required key is missing"
        fix = "add it"
    elif kind == "literal_error":
        fix = "use one of the values listed"
    else:
        fix = ""
    return Problem(source, line_for(lines, path), _key_text(path), message, fix)


def _valid_keys(path: KeyPath) -> str:
    """The keys allowed next to the last part of ``path``."""
    model: Any = Scenario
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        model = _model_in(field.annotation) if field else None
        if model is None:
            return "see docs/simulator.md for the keys"
    return "valid keys: " + ", ".join(model.model_fields)


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X``, ``X | None`` or ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, SpecModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _key_text(path: KeyPath) -> str:
    """``("dataset", 0, "id")`` -> ``dataset[0].id``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _cross_check(scenario: Scenario) -> Iterator[tuple[KeyPath, str, str]]:
    """Problems that span several keys: duplicates, dangling references."""
    yield from _duplicates(
        ("business",), [b.id for b in scenario.business], "id", "business id"
    )
    yield from _duplicates(
        ("dataset",), [d.id for d in scenario.dataset], "id", "dataset id"
    )
    yield from _duplicates(
        ("token",),
        [t.value.get_secret_value() for t in scenario.token],
        "value",
        "token value",
    )
    yield from _references(scenario)
    yield from _default_fields(scenario.simulator)
    if scenario.generate is not None:
        yield from _generated_overlap(scenario, scenario.generate)


def _duplicates(
    where: KeyPath, values: list[str], key: str, what: str
) -> Iterator[tuple[KeyPath, str, str]]:
    counts = Counter(values)
    seen: set[str] = set()
    for index, value in enumerate(values):
        if counts[value] > 1 and value in seen:
            shown = "(hidden)" if key == "value" else value
            yield (
                (*where, index, key),
                f"{what} {shown} is used twice",
                "give each one a different value",
            )
        seen.add(value)


def _references(scenario: Scenario) -> Iterator[tuple[KeyPath, str, str]]:
    known = {b.id for b in scenario.business}
    fix = "add a [[business]] with that id, or correct the id"
    for index, dataset in enumerate(scenario.dataset):
        if dataset.business is not None and dataset.business not in known:
            yield (
                ("dataset", index, "business"),
                f"business {dataset.business} is not declared",
                fix,
            )
        for position, client in enumerate(dataset.clients):
            if client not in known:
                yield (
                    ("dataset", index, "clients", position),
                    f"business {client} is not declared",
                    fix,
                )
        for (source, name), count in Counter(
            (e.source, e.name) for e in dataset.event
        ).items():
            if count > 1:
                yield (
                    ("dataset", index, "event"),
                    f"{source} event {name!r} is listed twice",
                    "merge the two [[dataset.event]] tables",
                )


def _default_fields(settings: SimulatorSettings) -> Iterator[tuple[KeyPath, str, str]]:
    root = dataset_quality_node(
        settings.web_default_fields, settings.offline_default_fields
    )
    for key, source in (
        ("web_default_fields", "web"),
        ("offline_default_fields", "offline"),
    ):
        text = getattr(settings, key)
        try:
            plan(root.fields[source], parse_fields(text))  # type: ignore[arg-type]
        except (FieldSyntaxError, SelectionError) as error:
            yield (
                ("simulator", key),
                str(error),
                'write fields as the API takes them, e.g. "event_name,acr"',
            )


def _generated_overlap(
    scenario: Scenario, spec: GenerateSpec
) -> Iterator[tuple[KeyPath, str, str]]:
    ids = range(spec.id_start, spec.id_start + spec.datasets)
    businesses = range(spec.business_id_start, spec.business_id_start + spec.businesses)
    for index, dataset in enumerate(scenario.dataset):
        if int(dataset.id) in ids:
            yield (
                ("dataset", index, "id"),
                f"dataset id {dataset.id} is also a generated id",
                "move [generate] id_start or pick another id",
            )
    for index, business in enumerate(scenario.business):
        if int(business.id) in businesses:
            yield (
                ("business", index, "id"),
                f"business id {business.id} is also a generated business id",
                "move [generate] business_id_start or pick another id",
            )
