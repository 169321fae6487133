"""The ``manifold-nets`` command (installed as the ``manifold_nets_apps`` package).

Thin: every subcommand parses arguments, calls the public API of :mod:`manifold_nets` and prints.
"""
