"""The command line (top layer): thin click commands that parse, call one library function and render.

``main`` holds the group, the shared options and the one mapping of errors to exit codes; each other module is one
command group, imported only when its command runs.
"""
