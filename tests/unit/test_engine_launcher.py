"""The test engine's launcher, without starting Java: cache key, cache place, given jars.

Matrix: the cache key follows every byte of pom.xml and src/ (and nothing else); the jar lives
under the project's cache folder; DEPLOYUNITS_CAMUNDA7_JAR wins when it names a file and is an
error when it does not; the admin password stays out of reprs.
"""

import shutil
from pathlib import Path

import pytest

from devcluster import engine


@pytest.fixture
def module(tmp_path: Path) -> Path:
    copy = tmp_path / "camunda7"
    shutil.copytree(engine.MODULE, copy)
    return copy


def test_the_cache_key_follows_the_sources_only(module: Path) -> None:
    before = engine.source_digest(module)
    (module / "target").mkdir()
    (module / "target" / "camunda7-engine.jar").write_bytes(b"built")
    (module / "README.md").write_text("notes")
    assert engine.source_digest(module) == before
    properties = module / "src" / "main" / "resources" / "application.properties"
    properties.write_text(properties.read_text() + "\nserver.port=9999\n")
    assert engine.source_digest(module) != before


def test_the_jar_is_cached_outside_the_checkout(
    module: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYUNITS_CACHE_DIR", str(tmp_path / "cache"))
    path = engine.jar_path(module)
    assert path.parent == tmp_path / "cache" / "engines"
    assert path.name == f"camunda7-{engine.source_digest(module)[:16]}.jar"


def test_a_given_jar_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jar = tmp_path / "engine.jar"
    monkeypatch.setenv("DEPLOYUNITS_CAMUNDA7_JAR", str(jar))
    with pytest.raises(engine.EngineError, match="is not a file"):
        engine.ensure_built()
    jar.write_bytes(b"PK")
    assert engine.ensure_built() == jar


def test_the_password_stays_out_of_reprs(tmp_path: Path) -> None:
    credentials = engine.BasicCredentials("demo", "s3cret-pass")
    process = engine.Camunda7Process(tmp_path / "x.jar", tmp_path / "log", credentials)
    assert "s3cret-pass" not in repr(credentials) + repr(process)
    assert credentials.header() == "Basic ZGVtbzpzM2NyZXQtcGFzcw=="
