"""The local production-like rehearsal stack (not part of the built collection)."""
