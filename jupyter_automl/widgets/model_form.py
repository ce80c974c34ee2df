"""Create a model and train it, or train an existing model again ("Update Model": version n+1)."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..model_types import ModelType
from .base import STYLE, WIDE, Panel
from .job_view import JobView
from .options import OptionsForm

SPLIT, SNAPSHOT = "split", "snapshot"


def _snapshot_label(s: Any) -> str:
    return f"{s.name} ({s.role}, {s.rows:,} rows, {s.id[:8]})"


class ModelForm(Panel):
    """Name, description, type, base model (only those for the type), training snapshot (only
    those of the type), test data (a test snapshot, or a percent of the training rows) and every
    training option with its range, choices and default from the core's schema.

    ``Train`` creates the model and queues version 1; with ``model`` given the form starts
    from that model's settings and ``Update Model`` queues its next version. ``job`` is the
    queued job and ``job_view`` shows it as it trains.
    """

    def __init__(self, automl: Any | None = None, *, model: str | None = None,
                 model_type: str = "text_classification", snapshot_id: str | None = None,
                 test_snapshot_id: str | None = None, base_model: str | None = None,
                 name: str = "") -> None:
        super().__init__(automl)
        self.job: Any = None
        self.job_view: JobView | None = None
        self.model = self.automl.get_model(model) if model else None
        if self.model is not None:
            model_type = self.model.model_type
            snapshot_id = snapshot_id or self.model.train_snapshot_id
            test_snapshot_id = test_snapshot_id or self.model.test_snapshot_id
        self.name = w.Text(value=self.model.name if self.model else name, description="Name",
                           style=STYLE, layout=WIDE, disabled=self.model is not None)
        self.description = w.Textarea(value=self.model.description if self.model else "",
                                      description="Description", style=STYLE, layout=WIDE, rows=2)
        self.model_type = w.Dropdown(
            options=[(t.value.replace("_", " "), t.value) for t in ModelType],
            value=ModelType.parse(model_type).value, description="Model type", style=STYLE,
            layout=WIDE, disabled=self.model is not None,
        )
        self.base_model = w.Dropdown(description="Base model", style=STYLE, layout=WIDE)
        self.snapshot = w.Dropdown(description="Training snapshot", style=STYLE, layout=WIDE)
        self.test_mode = w.ToggleButtons(
            options=[("Split % of the training rows", SPLIT), ("Test snapshot", SNAPSHOT)],
            value=SNAPSHOT if test_snapshot_id else SPLIT, description="Test data",
            style={**STYLE, "button_width": "auto"},
        )
        percent = (self.model.test_split_percent if self.model else None) or 20
        self.test_percent = w.BoundedIntText(value=percent, min=1, max=90,
                                             description="Test %", style=STYLE)
        self.test_snapshot = w.Dropdown(description="Test snapshot", style=STYLE, layout=WIDE)
        self.options_box = w.VBox()
        self.options: OptionsForm | None = None
        self.train_button = w.Button(
            description="Update Model" if self.model else "Train", button_style="primary",
            icon="play", layout=w.Layout(width="max-content"), tooltip="queue the training of the next version" if self.model
            else "create the model and queue its first version",
        )
        self.job_box = w.VBox()

        self._fill_choices(snapshot_id, test_snapshot_id,
                           self.model.base_model if self.model else base_model)
        self._rebuild_options(self.model.options if self.model else None)
        self.model_type.observe(lambda _: self._on_type(), "value")
        self.base_model.observe(lambda _: self._rebuild_options(), "value")
        self.snapshot.observe(lambda _: self._rebuild_options(), "value")
        self.test_mode.observe(lambda _: self._show_test(), "value")
        self.train_button.on_click(lambda _: self.train())
        self.test_row = w.VBox()
        self._show_test()
        title = f"Update model {self.model.name}" if self.model else "New model"
        self.children = [
            w.HTML(f"<h3>{title}</h3>"), self.name, self.description, self.model_type,
            self.base_model, self.snapshot, self.test_mode, self.test_row,
            w.HTML("<b>Training options</b>"), self.options_box, self.train_button, self.message,
            self.job_box,
        ]

    # -- choices that follow other choices ---------------------------------------------------------

    def _fill_choices(self, snapshot_id: str | None = None, test_snapshot_id: str | None = None,
                      base_model: str | None = None) -> None:
        kind = self.model_type.value
        bases = self.attempt(lambda: self.automl.list_base_models(kind)) or []
        snapshots = self.attempt(lambda: self.automl.list_snapshots(kind)) or []
        with self.hold_trait_notifications():
            self.base_model.options = [(b.display_name, b.name) for b in bases]
            base_model = base_model or self.automl.registry.default_for(ModelType(kind)).name
            if base_model in [b.name for b in bases]:
                self.base_model.value = base_model
            train = [s for s in snapshots if s.role == "train"]
            self.snapshot.options = [(_snapshot_label(s), s.id) for s in train]
            if snapshot_id in [s.id for s in train]:
                self.snapshot.value = snapshot_id
            self.test_snapshot.options = [(_snapshot_label(s), s.id) for s in snapshots
                                          if s.role == "test"]
            if test_snapshot_id in [s.id for s in snapshots]:
                self.test_snapshot.value = test_snapshot_id

    def _on_type(self) -> None:
        self._fill_choices()
        self._rebuild_options()

    def _show_test(self) -> None:
        self.test_row.children = [self.test_percent if self.test_mode.value == SPLIT
                                  else self.test_snapshot]

    def _rebuild_options(self, values: dict[str, Any] | None = None) -> None:
        """Options as the core's schema gives them for the type, base model and snapshot; the
        values a user had set are kept where they still apply."""
        if values is None and self.options is not None:
            values = self.options.value
        schema = self.attempt(lambda: self.automl.options_schema(
            self.model_type.value, base_model=self.base_model.value or None,
            snapshot_id=self.snapshot.value or None,
        ))
        if schema is None:
            return
        self.options = OptionsForm(schema, values)
        self.options_box.children = [self.options]

    # -- train -----------------------------------------------------------------------------

    def _test_settings(self) -> dict[str, Any]:
        if self.test_mode.value == SNAPSHOT:
            return {"test_snapshot_id": self.test_snapshot.value}
        return {"test_percent": self.test_percent.value}

    def train(self) -> None:
        """Create the model (or change its settings) and queue a version; errors of the core
        (a name taken, options out of range, a snapshot of another type) show in the form."""
        self.attempt(self._train)

    def _train(self) -> None:
        if self.options is None:
            return
        if not self.snapshot.value:
            from ..errors import InvalidInput

            raise InvalidInput(f"no {self.model_type.value} training snapshot: upload a dataset "
                               "and freeze it first")
        options = self.options.value
        if self.model is None:
            self.model = self.automl.create_model(
                self.name.value, self.snapshot.value, base_model=self.base_model.value,
                options=options, description=self.description.value,
                model_type=self.model_type.value, **self._test_settings(),
            )
        else:
            self.automl.update_model(
                self.model.name, snapshot_id=self.snapshot.value, options=options,
                base_model=self.base_model.value, description=self.description.value,
                **self._test_settings(),
            )
        self.name.disabled = self.model_type.disabled = True
        self.train_button.description = "Update Model"
        self.job = self.automl.train(self.model.name)
        info = self.job.info()
        self.show_info(f"queued version {info.version} of {self.model.name} (job {info.id})")
        self.job_view = JobView(self.automl, info.id)
        self.job_box.children = [self.job_view]
