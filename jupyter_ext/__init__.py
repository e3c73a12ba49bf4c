"""The Jupyter server extension (one engine for every notebook) and the %%ask IPython magic."""
