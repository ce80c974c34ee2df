"""jupyter-automl: AutoML inside JupyterLab."""
