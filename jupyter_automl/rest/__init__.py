"""Management REST API under /automl/api/: thin handlers over the public Python API."""
