"""Settings are validated at start-up and fail loudly."""

import pytest
from pydantic import ValidationError

from deployunits.settings import AuthMode, OperatorSettings, ShimSettings


def test_shim_defaults_to_kubernetes_auth_on_loopback() -> None:
    settings = ShimSettings()
    assert settings.auth_mode is AuthMode.KUBERNETES
    assert settings.port == 8080


def test_unauthenticated_shim_refuses_non_loopback_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYUNITS_AUTH_MODE", "none")
    monkeypatch.setenv("DEPLOYUNITS_HOST", "0.0.0.0")
    with pytest.raises(ValidationError, match="binds only to loopback"):
        ShimSettings()


def test_operator_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYUNITS_PROBE_PORT", "9999")
    monkeypatch.setenv("DEPLOYUNITS_NAMESPACES", '["a", "b"]')
    settings = OperatorSettings()
    assert settings.probe_port == 9999
    assert settings.namespaces == ["a", "b"]


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYUNITS_PROBE_PORT", "70000")
    with pytest.raises(ValidationError):
        OperatorSettings()


def test_engine_bindings_name_a_process_engine_per_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPLOYUNITS_NAMESPACE", "ops")
    monkeypatch.setenv("DEPLOYUNITS_ENGINE", "camunda")
    monkeypatch.setenv("DEPLOYUNITS_ENGINES", '{"team-a": "other"}')
    assert ShimSettings().bindings() == {"ops": "camunda", "team-a": "other"}
    monkeypatch.setenv("DEPLOYUNITS_ENGINE", "Not A Name")
    with pytest.raises(ValidationError):
        ShimSettings()
