"""The shim's read-only web console at /console/: its JSON and event-stream API and its page."""
