"""Who runs when: the worker thread, warm-ups ahead of the user, the typing rhythm."""
