"""The `tabwise` command line: a front end of the engine, as the language server and Jupyter are."""
