from approval_monitor.cli import main

main()
