from kvmnet.cli.main import main

raise SystemExit(main())
