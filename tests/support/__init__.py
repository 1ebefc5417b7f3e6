"""Helpers shared by the test suites: a local Maven repository, builders of test content."""
