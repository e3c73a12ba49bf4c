"""The pygls language server: inline completion, a completion fallback and explain, on the shared engine."""
