"""The command line: click commands, one module per command group, loaded on dispatch.

`main` is the group (and the lazy command table); `common` holds the options and the
one place exceptions become output and exit codes. No logic a library user would need
lives here.

May import: everything.
"""
