"""The Camunda 7 dialect of the shim: the /engine-rest/deployment family.

It answers as Camunda 7.24 does, which tests/integration/test_camunda_fidelity.py checks by
sending the same calls to the real engine and to the shim. Where the shim answers otherwise, on
purpose, the reason is here (each has a case in that suite that checks the difference stays
exactly this one):

- Data of a missing resource (`GET /deployment/{id}/resources/{rid}/data`): the documented
  `404 InvalidRequestException`, not the engine's `500 NullValueException` (code 0). A 500 tells
  clients and monitoring that the server failed, for a caller's wrong id.
- A `deployment-activation-time` that is no date: `400 InvalidRequestException` with the
  engine's message, not its `500 IllegalArgumentException`: bad input gets a 4xx.
- One definition key twice in one deployment: `400 NotValidException` with the engine's
  message and code, not its `500 ProcessEngineException`, for the same reason.
- An empty `tenant-id` on create is no tenant (`null`); the engine stores the empty string as a
  tenant id of its own. A unit's tenant is a name or none.
- Malformed XML on create: `400 ParseException` (code 0) with line and column, not the engine's
  `500 ProcessEngineException` "ENGINE-09003 Could not parse ...": bad input gets a 4xx, with
  the position a client needs to fix it.
- Content validation (content/validation.py, with the schema files the engine applies): a BPMN
  that breaks its schema or names missing elements is the engine's `400 ParseException` with
  every problem at the engine's line and column, and the engine's `mainElementId` and element
  ids; the shim refuses it before it stores anything. The reference checks use the engine's
  words (`cvc-id.1: There is no ID/IDREF binding for IDREF '...'.`, `Invalid destination '...'
  of sequence flow '...'`); schema violations carry libxml2's message, not Xerces' `cvc-*`
  text, and a duplicate id is one problem where Xerces reports two (`cvc-id.2`,
  `cvc-attribute.3`). A DMN or CMMN that breaks its schema is the same `400 ParseException`,
  not the engine's `500 ProcessEngineException` "ENGINE-22004 Unable to transform DMN
  resource" / "ENGINE-04001 Could not transform resource", which carry no position.
- Authentication: the shim's own (Kubernetes tokens), checked per route, so a path no route
  matches answers 404 or 405 without credentials, where the engine's filter answers 401 first.
  An unknown named engine answers as the engine does in both modes: `400 No process engine
  available` without authentication, `404 Process engine {name} not available` (before
  credentials) with it.
- Query parameters are converted after the engine is looked up: under an unknown named engine
  without authentication, `maxResults=abc` answers the 400 of the missing engine, where the
  engine's runtime answers its 404 `QueryParamException` first.
"""
