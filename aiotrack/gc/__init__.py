"""``aiotrack gc``: permanently remove deleted runs and experiments, as ``mlflow gc`` does."""
