"""`python -m lsp_server`: the language server over stdio (see `tabwise lsp --help`)."""

from lsp_server.cli import main

main()
