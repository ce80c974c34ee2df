"""Notebook widgets (ipywidgets 8): the whole workflow in notebook cells.

Each widget drives an :class:`~jupyter_automl.AutoML` (one on the default store when none is
given) through the same public API as the CLI and the REST handlers; errors of the core show
in the widget as their message::

    from jupyter_automl.widgets import UploadForm, ModelForm, MetricsDashboard, ChatPlayground
    upload = UploadForm(automl, model_type="llm_chat"); upload
"""

from .base import Panel
from .chunked_upload import ChunkedUpload
from .dashboard import MetricsDashboard
from .deployment_view import DeploymentView
from .job_view import JobView
from .model_form import ModelForm
from .options import OptionsForm
from .playground import ChatPlayground, TryIt
from .upload import ReportView, UploadForm
from .usage import UsageChart

__all__ = ["ChatPlayground", "ChunkedUpload", "DeploymentView", "JobView", "MetricsDashboard",
           "ModelForm", "OptionsForm", "Panel", "ReportView", "TryIt", "UploadForm", "UsageChart"]
