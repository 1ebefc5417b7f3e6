"""kopf handlers (decorators only); the operator's entry point imports the modules that register.

Importing the package alone registers nothing, so that bench's least operator can use
`common` without the operator's handlers and start-up.
"""
