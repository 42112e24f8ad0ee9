from botops.cli import main

raise SystemExit(main())
