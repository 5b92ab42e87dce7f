"""The ``approval-monitor`` command: one entry point, one subcommand per job.

Settings are read when a command runs, never at import: ``--help``, ``rules
check``, ``replay`` and ``simulate`` work whatever the Kafka or API variables
say, and a bad variable stops a command with one line naming it.
"""

from __future__ import annotations

# isort: off
from approval_monitor import cli_offline  # noqa: F401 - registers the commands that need no servers, first
from approval_monitor import cli_live  # noqa: F401 - then those of the live pipeline
from approval_monitor import cli_store  # noqa: F401 - and those on the store itself

# isort: on
from approval_monitor.cli_common import app


def main() -> None:
    app(prog_name="approval-monitor")


if __name__ == "__main__":
    main()
