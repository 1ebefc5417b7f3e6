"""The Camunda 7 dialect of the shim: the /engine-rest/deployment family."""
