"""MLflow 3 tracing: spans in (OTLP), trace summaries, and the trace filter grammar.

Storage-independent: the SQL store (``aiotrack.store.sql.traces``) and the HTTP handlers
(``aiotrack.api.traces``) build on these modules.
"""
