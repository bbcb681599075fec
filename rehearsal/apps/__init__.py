"""Demo applications (vcci, cbam, csrd) that rehearsal pods run as real processes.

``demo_app`` is the HTTP service, ``calculations`` its deterministic business logic,
``seed`` loads each app's schema and reference data into PostgreSQL, ``migrate`` is the
runner that migration Job pods execute.
"""

APPS = ("vcci", "cbam", "csrd")
