from kvmnet.cli.entry import main

raise SystemExit(main())
