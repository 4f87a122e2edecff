"""One module per `harness` subcommand: ``add_parser(subparsers)`` registers it and sets ``func``."""
