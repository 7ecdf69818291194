"""Compatibility suite: a real server process driven by the real mlflow client."""
