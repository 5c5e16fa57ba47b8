"""parac's language server: the core's specs and validation, presented live to editors over LSP.

``server`` builds the pygls server and hands each LSP method to one module of ``features``, which see the server
only through the protocol in ``context`` (so they never import ``server``); ``publisher`` pushes diagnostics;
``documents`` keeps what the editor has open (text, tree-sitter tree, last good parse); ``positions`` converts
between the core's 1-based code-point columns, tree-sitter's byte columns and the client's negotiated encoding. Checking stays in
:mod:`parac.core.workspace`; nothing here decides what is valid.
"""
