"""The metrics dashboard of a trained version: per head the metric table, PR curves and a
confusion matrix whose cells open the test rows behind them; for LLMs loss and token accuracy
against the base model; the curves over epochs with the chosen one marked; and a side-by-side
comparison with another version."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..evaluation.plots import plot_stems
from ..model_types import ModelType
from ..reports import tables
from .base import STYLE, Panel, html_table

ROWS_SHOWN = 20


class ConfusionGrid(w.VBox):
    """A confusion matrix as buttons (true class down, predicted across): a click calls
    ``on_cell(actual, predicted)``. Correct cells are green, errors red, by their share of
    the row."""

    def __init__(self, head: str, frame: Any, on_cell: Any) -> None:
        super().__init__()
        labels = list(frame.index)
        cells: list[w.Widget] = [w.HTML("<small>true \\ predicted</small>")]
        cells += [w.HTML(f"<b>{html.escape(str(c))}</b>") for c in labels]
        self.buttons: dict[tuple[str, str], w.Button] = {}
        for actual in labels:
            cells.append(w.HTML(f"<b>{html.escape(str(actual))}</b>"))
            total = max(int(frame.loc[actual].sum()), 1)
            for predicted in labels:
                count = int(frame.loc[actual, predicted])
                share = count / total
                hue = "46, 160, 67" if actual == predicted else "207, 34, 46"
                button = w.Button(description=str(count), tooltip=(
                    f"{count} test rows of class {actual!r} predicted as {predicted!r} (head {head!r})"),
                    layout=w.Layout(width="max-content"))
                button.style.button_color = f"rgba({hue}, {0.12 + 0.75 * share:.2f})"
                button.on_click(lambda _, a=actual, p=predicted: on_cell(a, p))
                self.buttons[(actual, predicted)] = button
                cells.append(button)
        self.children = [w.GridBox(cells, layout=w.Layout(
            grid_template_columns=f"auto repeat({len(labels)}, minmax(56px, auto))",
            grid_gap="2px", width="fit-content"))]


class MetricsDashboard(Panel):
    """Everything measured for one version (the newest trained when ``version`` is None)."""

    def __init__(self, automl: Any | None, model: str, version: int | None = None, *,
                 compare_with: int | None = None) -> None:
        super().__init__(automl)
        self.info = self.automl.get_version(model, version)
        self.model = self.automl.get_model(model)
        self.version = self.info.version
        self.metrics = self.automl.version_metrics(self.model.name, self.version)
        self.kind = ModelType(self.model.model_type)
        self.rows = w.Output()  # the test rows behind the last confusion cell clicked
        self.selected_rows: Any = None
        self.grids: dict[str, ConfusionGrid] = {}
        others = [v.version for v in self.model.versions if v.status == "trained" and v.version != self.version]
        self.compare = w.Dropdown(options=[("(none)", None)] + [(f"v{v}", v) for v in others],
                                  value=compare_with if compare_with in others else None,
                                  description="Compare with", style=STYLE)
        self.comparison = w.HTML()
        self.compare.observe(lambda _: self.attempt(self._show_comparison), "value")
        sections = [self._header()]
        if self.kind.is_llm:
            sections.append(self._llm())
        else:
            sections.append(self._heads())
        sections += [self._epochs(), w.HTML("<b>Versions side by side</b>"), self.compare,
                     self.comparison, self.message]
        self.children = sections
        self.attempt(self._show_comparison)

    def _image(self, name: str) -> w.Widget | None:
        if name not in self.automl.version_plots(self.model.name, self.version):
            return None
        path = self.automl.version_plot(self.model.name, self.version, name)
        return w.Image(value=path.read_bytes(), format="png", layout=w.Layout(width="460px"))

    def _header(self) -> w.Widget:
        m = self.metrics
        why = (m.get("selection") or {}).get("why", "")
        rows = m.get("data", {}).get("rows", {})
        return w.HTML(
            f"<h3>{html.escape(self.model.name)} v{self.version}</h3>"
            f"{html.escape(self.kind.value)} on <code>{html.escape(self.info.base_model)}</code>; "
            f"rows train/validation/test: {rows.get('train', '?')}/{rows.get('validation', '?')}/"
            f"{rows.get('test', '?')}; trained in {m.get('training_seconds', 0):.0f} s on "
            f"{html.escape(str(m.get('device', '?')))}"
            f"{' (stopped early)' if m.get('stopped_early') else ''}<br><b>Chosen:</b> {html.escape(why)}"
        )

    def _llm(self) -> w.Widget:
        table = tables.llm_comparison(self.metrics)
        note = ("<b>Base model vs fine-tuned on the test rows</b> (loss: lower is better; token "
                "accuracy: higher is better)")
        images = [i for i in (self._image("loss.png"), self._image("token_accuracy.png")) if i]
        return w.VBox([w.HTML(note + html_table(table)), w.HBox(images)])

    def _heads(self) -> w.Widget:
        heads = list((self.metrics.get("test") or {}).get("heads") or {})
        stems = plot_stems(heads)
        pages = []
        for head in heads:
            parts: list[w.Widget] = [w.HTML(html_table(tables.head_table(self.metrics, head)))]
            pictures = [i for i in (self._image(f"pr_{stems[head]}.png"),) if i]
            if (self.metrics["test"]["heads"][head].get("labelled") or 0) > 0:
                grid = ConfusionGrid(head, tables.confusion_table(self.metrics, head),
                                     lambda a, p, h=head: self.show_rows(h, a, p))
                self.grids[head] = grid
                parts.append(w.HBox([*pictures, w.VBox([
                    w.HTML("<b>Confusion matrix</b> (click a cell for its test rows)"), grid])]))
            pages.append(w.VBox(parts))
        tabs = w.Tab(children=pages, titles=tuple(heads))
        return w.VBox([w.HTML("<b>Test metrics of the chosen epoch, per head</b>"), tabs, self.rows])

    def _epochs(self) -> w.Widget:
        table = tables.epochs_table(self.metrics)
        heads = (self.metrics.get("test") or {}).get("heads") or {}
        stems = plot_stems(list(heads))
        names = ["loss.png", *[f"history_{stems[h]}.png" for h in heads]]
        if self.kind.is_llm:
            names = []  # shown beside the base-model comparison
        images = [i for i in map(self._image, names) if i]
        return w.VBox([w.HTML("<b>Every evaluation during training</b> (chosen = the model)"
                              + html_table(table)), w.HBox(images)])

    def show_rows(self, head: str, actual: str, predicted: str) -> None:
        """The test rows of ``head`` with true class ``actual`` predicted as ``predicted``."""
        def fetch() -> None:
            frame = self.automl.confusion_rows(self.model.name, self.version, head, actual, predicted)
            self.selected_rows = frame
            self.rows.outputs = ()
            from IPython.display import HTML

            more = (f"; the first {ROWS_SHOWN} shown, all in <code>.selected_rows</code>"
                    if len(frame) > ROWS_SHOWN else "")
            self.rows.append_display_data(HTML(
                f"<b>{len(frame)} test rows</b> of head {html.escape(head)!r}: true "
                f"{html.escape(actual)!r}, predicted {html.escape(predicted)!r}{more}"
                + html_table(frame.head(ROWS_SHOWN), index=False)))

        self.attempt(fetch)

    def _show_comparison(self) -> None:
        other = self.compare.value
        versions = [(self.version, self.metrics)]
        if other is not None:
            versions.insert(0, (other, self.automl.version_metrics(self.model.name, other)))
        self.comparison_table = tables.compare_versions(sorted(versions, key=lambda v: v[0]))
        self.comparison.value = html_table(self.comparison_table)
