"""How a ProcessEngine's settings become a connection, with the credentials out of sight.

Matrix: secrets hidden in reprs and dumps; the Authorization headers; URLs with credentials,
other schemes, no host or a query refused (without repeating the URL); named engine paths;
a Secret's username/password or token, and each way a Secret can be unusable; a spec.camunda7
turned into a connection.
"""

import pytest
from pydantic import SecretStr, ValidationError

from deployunits.engines import (
    BasicAuth,
    BearerToken,
    Camunda7Connection,
    EngineSettingsError,
    connection_for,
    credentials_from_secret,
)
from deployunits.models.processengine import Camunda7


class TestConnection:
    def test_secrets_never_show_in_reprs(self) -> None:
        for credentials in (
            BasicAuth(username="ops", password=SecretStr("pa55word")),
            BearerToken(token=SecretStr("t0ken")),
        ):
            connection = Camunda7Connection(url="http://e/engine-rest", credentials=credentials)
            shown = repr(connection) + str(connection) + connection.model_dump_json()
            assert "pa55word" not in shown
            assert "t0ken" not in shown

    def test_headers_carry_the_credentials(self) -> None:
        assert BasicAuth(username="demo", password=SecretStr("demo")).header() == (
            "Basic ZGVtbzpkZW1v"
        )
        assert BearerToken(token=SecretStr("abc")).header() == "Bearer abc"

    @pytest.mark.parametrize(
        "url",
        [
            "http://user:pw@engine/engine-rest",
            "ftp://engine/engine-rest",
            "http:///engine-rest",
            "http://engine/engine-rest?x=1",
        ],
    )
    def test_bad_urls_are_refused(self, url: str) -> None:
        with pytest.raises(ValidationError) as raised:
            Camunda7Connection(url=url)
        assert "pw@" not in str(raised.value)

    def test_named_engine_paths(self) -> None:
        plain = Camunda7Connection(url="https://engine:8443/engine-rest/")
        assert str(plain.base()) == "https://engine:8443/engine-rest"
        named = Camunda7Connection(url="https://engine:8443/engine-rest", engine_name="billing")
        assert str(named.base()) == "https://engine:8443/engine-rest/engine/billing"
        with pytest.raises(ValidationError):
            Camunda7Connection(url="http://e/engine-rest", engine_name="../x")


class TestSecret:
    def test_username_and_password_are_basic_credentials(self) -> None:
        found = credentials_from_secret("engine", {"username": b"ops\n", "password": b"p w"})
        assert isinstance(found, BasicAuth)
        assert (found.username, found.password.get_secret_value()) == ("ops", "p w")

    def test_a_token_is_a_bearer_token(self) -> None:
        found = credentials_from_secret("engine", {"token": b"abc\n"})
        assert isinstance(found, BearerToken)
        assert found.header() == "Bearer abc"

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({}, "lacks username and password"),
            ({"username": b"ops"}, "lacks password"),
            ({"password": b"hunter2"}, "lacks username"),
            ({"username": b"ops", "password": b"hunter2", "token": b"t"}, "both"),
            ({"username": b"ops", "password": b"\xff\xfe"}, "UTF-8"),
        ],
    )
    def test_unusable_secrets_say_why_without_their_values(
        self, data: dict[str, bytes], message: str
    ) -> None:
        with pytest.raises(EngineSettingsError, match=message) as raised:
            credentials_from_secret("engine", data)
        assert "hunter2" not in str(raised.value)


def test_a_spec_becomes_a_connection() -> None:
    spec = Camunda7(url="https://camunda.bpm:8443/engine-rest", engine_name="billing")
    token = BearerToken(token=SecretStr("t"))
    connection = connection_for(spec, token, ca_bundle="PEM")
    assert str(connection.base()) == "https://camunda.bpm:8443/engine-rest/engine/billing"
    assert (connection.credentials, connection.ca_bundle) == (token, "PEM")
    with pytest.raises(EngineSettingsError, match=r"spec\.camunda7: .*must not carry credentials"):
        connection_for(Camunda7.model_construct(url="http://a:b@camunda/engine-rest"))
