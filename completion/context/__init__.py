"""Code context: the documents a front end has open, parse trees, and what goes around the cursor."""
