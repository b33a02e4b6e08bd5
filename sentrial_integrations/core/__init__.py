"""The framework-agnostic core (it imports no framework and nothing outside ``core``).

``api/`` the public client and sessions · ``record/`` ops become records (serialize, normalize, redact,
price) · ``recorder.py`` the queue and the one thread that builds and commits · ``delivery/`` outbox,
shipper, process launch · ``exporters/`` the wire formats (Sentrial HTTP, OTLP) · ``store/`` the embedded
SQLite store · ``model.py`` record shapes and the shared constants. The README's Architecture section
walks one event through these files.
"""
