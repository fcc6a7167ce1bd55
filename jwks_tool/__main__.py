"""``python -m jwks_tool`` runs the command line, same as ``jwks-tool``."""

from jwks_tool.cli.main import main

if __name__ == "__main__":
    main()
