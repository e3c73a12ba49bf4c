"""tabwise's shared completion engine; front ends import `completion.engine.Engine`."""
