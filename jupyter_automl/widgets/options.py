"""Training options as a form, built from the core's JSON Schema (``AutoML.options_schema``).

The schema says which options apply to the model type and base model, their ranges, their
choices (the snapshot's heads for ``selection_label``, the type's selection rules) and their
defaults, so the form repeats none of those rules. The one rule between two fields,
``early_stopping`` at most ``max_epochs``, is kept in the widget as the user types; the core
checks it again when the options are used.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as w
from traitlets import TraitError

from .base import STYLE

# Shown first, in this order; the rest follow as the schema lists them, under "Advanced".
MAIN = ("max_epochs", "selection_rule", "selection_label", "early_stopping",
        "max_invalid_row_percent", "max_tokens", "method")
TINY = 1e-12  # the smallest value of a number with an exclusive minimum of 0


def _nullable(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The non-null branch of an ``anyOf [X, null]`` property, and whether null is allowed."""
    if "anyOf" in spec:
        branches = [b for b in spec["anyOf"] if b.get("type") != "null"]
        merged = {**spec, **branches[0]}
        merged.pop("anyOf")
        return merged, len(branches) < len(spec["anyOf"])
    return spec, False


def _bounds(spec: dict[str, Any], integer: bool) -> tuple[float, float]:
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    high = spec.get("maximum", spec.get("exclusiveMaximum"))
    if "exclusiveMinimum" in spec:
        low = low + (1 if integer else TINY)
    if "exclusiveMaximum" in spec:
        high = high - (1 if integer else TINY)
    default_high = 2**31 - 1 if integer else math.inf
    return (low if low is not None else 0), (high if high is not None else default_high)


class OptionField(w.HBox):
    """One option: a control of the right kind and range, and for an option that may stay
    unset (its default follows other choices) a checkbox that sets it."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        spec, self.nullable = _nullable(spec)
        self.default = spec.get("default")
        title = spec.get("title") or name
        kind = spec.get("type")
        if "enum" in spec:
            self.control = w.Dropdown(options=list(spec["enum"]), description=title, style=STYLE)
        elif kind == "boolean":
            self.control = w.Checkbox(description=title, style=STYLE)
        elif kind in ("integer", "number"):
            low, high = _bounds(spec, kind == "integer")
            cls = w.BoundedIntText if kind == "integer" else w.BoundedFloatText
            self.control = cls(min=low, max=high, description=title, style=STYLE)
            if kind == "number":
                self.control.step = 10 ** math.floor(math.log10(max(abs(self.default or low or 1e-3), 1e-12)))
        else:
            self.control = w.Text(description=title, style=STYLE)
        if self.default is not None:
            self.control.value = self.default
        self.control.tooltip = spec.get("description", "")
        self.set = w.Checkbox(value=self.default is not None, indent=False,
                              layout=w.Layout(width="28px"), tooltip=f"set {title}")
        if self.nullable:
            self.set.observe(lambda change: self._toggle(), "value")
            self._toggle()
            self.children = [self.control, self.set, w.HTML(
                f"<small>{spec.get('description', '')}</small>", layout=w.Layout(width="360px"))]
        else:
            self.children = [self.control]

    def _toggle(self) -> None:
        self.control.disabled = not self.set.value

    @property
    def value(self) -> Any:
        if self.nullable and not self.set.value:
            return None
        value = self.control.value
        return None if isinstance(value, str) and not value.strip() else value


class OptionsForm(w.VBox):
    """Every option of the schema as a field; ``value`` is what differs from the defaults."""

    def __init__(self, schema: dict[str, Any], values: dict[str, Any] | None = None) -> None:
        super().__init__()
        props: dict[str, Any] = schema.get("properties", {})
        self.fields = {name: OptionField(name, spec) for name, spec in props.items()}
        for name, value in (values or {}).items():
            if name in self.fields:
                try:
                    self.set_value(name, value)
                except TraitError:  # not a choice of the new schema (another base model's
                    pass  # method, another snapshot's head): the field keeps its default
        main = [self.fields[n] for n in MAIN if n in self.fields]
        rest = [f for n, f in self.fields.items() if n not in MAIN]
        advanced = w.Accordion(children=[w.VBox(rest)], titles=("Advanced options",))
        advanced.selected_index = None
        self.children = [*main, advanced] if rest else main
        if "early_stopping" in self.fields and "max_epochs" in self.fields:
            self.fields["max_epochs"].control.observe(lambda _: self._limit_patience(), "value")
            self._limit_patience()

    def _limit_patience(self) -> None:
        """Early stopping counts evaluations without improvement: at most ``max_epochs``."""
        patience = self.fields["early_stopping"].control
        patience.max = max(1, int(self.fields["max_epochs"].control.value))

    def set_value(self, name: str, value: Any) -> None:
        field = self.fields[name]
        if value is None:
            field.set.value = False
            return
        field.set.value = True
        field.control.value = value

    @property
    def value(self) -> dict[str, Any]:
        """The options to send: each field that is set and differs from its default."""
        out = {}
        for name, field in self.fields.items():
            value = field.value
            if value is not None and value != field.default:
                out[name] = value
        return out
