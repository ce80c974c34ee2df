"""What every widget shares: the AutoML it drives, a message line, and work off the kernel's
main thread.

A widget callback that reads a large file or waits for a model would freeze the notebook, so
widgets run such work on a thread of their own (``run_in_background``) and show its outcome in
their message line. Errors of the core (:class:`~jupyter_automl.errors.AutoMLError`) are shown
as their message, which says what is wrong and where; a test or a script can ``wait()`` for the
work to end.
"""

from __future__ import annotations

import html
import io
import logging
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import AutoMLError

log = logging.getLogger(__name__)

STYLE = {"description_width": "170px"}
WIDE = w.Layout(width="480px")


def automl_or_default(automl: Any | None) -> Any:
    """The AutoML a widget drives: the one given, else one on the default store and folder."""
    if automl is not None:
        return automl
    from ..api import AutoML

    return AutoML()


def html_table(frame: pd.DataFrame, *, digits: int = 4, index: bool = True) -> str:
    """A DataFrame as JupyterLab styles tables (``jp-RenderedHTMLCommon``)."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    return (
        '<div class="jp-RenderedHTMLCommon" style="padding:0">'
        + shown.to_html(index=index, escape=True, na_rep="", border=0)
        + "</div>"
    )


def png_of(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes (for an ``ipywidgets.Image``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Any:
    """A matplotlib figure that needs no GUI backend (safe off the main thread)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


class Panel(w.VBox):
    """A box of controls over one AutoML, with a message line for outcomes and errors."""

    def __init__(self, automl: Any | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.automl = automl_or_default(automl)
        self.message = w.HTML(layout=w.Layout(min_height="1.5em"))
        self.error: str | None = None
        self._work: threading.Thread | None = None

    # -- messages ------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.error = text
        self.message.value = (
            '<div role="alert" style="color:var(--jp-error-color1);white-space:pre-wrap">'
            f"{html.escape(text)}</div>"
        )

    def show_info(self, text: str) -> None:
        self.error = None
        self.message.value = (
            f'<div style="color:var(--jp-ui-font-color1);white-space:pre-wrap">{html.escape(text)}</div>'
        )

    def attempt(self, action: Callable[[], Any]) -> Any:
        """Run ``action``; an error is shown in the message line instead of raised."""
        try:
            return action()
        except AutoMLError as error:
            self.show_error(error.message)
        except Exception as error:  # an unexpected failure still reads as a message, not a trace
            log.exception("widget action failed")
            self.show_error(f"unexpected error: {type(error).__name__}: {error}")
        return None

    # -- background work -------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._work is not None and self._work.is_alive()

    def run_in_background(self, action: Callable[[], Any], *, busy: str = "") -> None:
        """Run ``action`` on a thread (one at a time per widget), so the kernel stays free."""
        if self.busy:
            self.show_error("still working on the previous request; wait for it to finish")
            return
        if busy:
            self.show_info(busy)
        self._work = threading.Thread(target=self.attempt, args=(action,), daemon=True,
                                      name=f"{type(self).__name__}-work")
        self._work.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the widget's background work has ended (for scripts and tests)."""
        if self._work is not None:
            self._work.join(timeout)
            if self._work.is_alive():
                raise TimeoutError(f"{type(self).__name__} still busy after {timeout} s")
