"""`python -m claude_any` is the `claude-any` command."""

import sys

from claude_any.cli import main

sys.exit(main())
