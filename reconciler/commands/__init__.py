"""What each command does, apart from how it is asked for.

One module per command (plan, apply, drift, import, doctor): a typed request
in, a typed outcome out. They talk to a person only through ``Hooks``
(notices, progress, confirmation, interruption), so tests and benches drive
them in-process; ``reconciler.cli`` parses options, calls one of them, renders
the outcome and picks the exit code.
"""
