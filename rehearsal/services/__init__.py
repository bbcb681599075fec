"""Real services the rehearsal stack runs locally (PostgreSQL, ...), one module each."""
