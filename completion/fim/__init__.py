"""Fill in the middle: plan a request, lay out its prompt, shape what the model writes, cache it."""
