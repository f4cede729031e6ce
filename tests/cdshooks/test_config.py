"""Settings: secure defaults, an explicit development switch, validated trust configuration."""

from __future__ import annotations

import json

import pytest

from service.config import ConfigError, Settings


def test_the_defaults_are_production_safe():
    s = Settings.from_env({})
    assert s.auth_enabled is True
    assert s.trusted_issuers == ()
    assert s.fhir_server_allowlist == ()
    assert s.allow_private_fhir_addresses is False and s.allow_http_fhir is False
    assert s.uses_postgres is False and s.sqlite_path.name == "cds.sqlite3"
    assert s.jwt_max_lifetime_seconds == 300


def test_authentication_is_turned_off_only_by_the_explicit_development_value():
    assert Settings.from_env({"CDS_AUTH": "off"}).auth_enabled is False
    with pytest.raises(ConfigError):
        Settings.from_env({"CDS_AUTH": "false"})


def test_trusted_issuers_come_inline_and_from_a_file(tmp_path):
    f = tmp_path / "issuers.json"
    f.write_text(json.dumps([{"iss": "https://b.example", "jwks_url": "https://b.example/jwks"}]))
    inline = json.dumps(
        [
            {
                "iss": "https://a.example",
                "jku_allowlist": ["https://a.example/jwks"],
                "fhir_servers": ["https://a.example/fhir"],
            }
        ]
    )
    s = Settings.from_env({"CDS_TRUSTED_ISSUERS": inline, "CDS_TRUSTED_ISSUERS_FILE": str(f)})
    a, b = s.trusted_issuers
    assert a.jku_allowlist == ("https://a.example/jwks",) and a.fhir_servers == (
        "https://a.example/fhir",
    )
    assert b.jwks_url == "https://b.example/jwks"


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "{}",
        '[{"jwks_url": "x"}]',
        '[{"iss": "a", "keys": []}]',
        '[{"iss": "a", "jwks": {"k": 1}}]',
    ],
)
def test_a_malformed_trust_configuration_stops_start_up(value):
    with pytest.raises(ConfigError):
        Settings.from_env({"CDS_TRUSTED_ISSUERS": value})


def test_database_url_selects_postgresql_and_lists_are_comma_separated():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db:5432/cds",
            "CDS_FHIR_SERVER_ALLOWLIST": "https://a.example/fhir, https://b.example/r4",
            "CDS_EXTERNAL_BASE_URL": "https://cds.example/base/",
        }
    )
    assert s.uses_postgres
    assert s.fhir_server_allowlist == ("https://a.example/fhir", "https://b.example/r4")
    assert s.external_base_url == "https://cds.example/base"
