from kvmnet.cli.entry import script

raise SystemExit(script())
