"""Pure decisions: (spec, observed state) → next status. No I/O in this package."""
