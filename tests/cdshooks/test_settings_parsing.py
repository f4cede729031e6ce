"""Settings are parsed once, in service/config.py, with errors naming the variable and its form.

The app (`Settings`) and gunicorn (`ServerSettings`, deploy/gunicorn.conf.py) read the
environment only there, so the two can never parse a variable differently.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from service.config import ConfigError, ServerSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "gunicorn.conf.py"


@pytest.mark.parametrize(
    ("name", "value", "form"),
    [
        ("CDS_AUDIT_RETENTION_DAYS", "a year", "a number"),
        ("CDS_FEEDBACK_RETENTION_DAYS", "-1", "a number of at least 0"),
        ("CDS_JWT_LEEWAY_SECONDS", "5s", "a whole number"),
        ("CDS_JTI_RETENTION_SECONDS", "1.5", "a whole number"),
        ("CDS_JWKS_CACHE_SECONDS", "five", "a whole number"),
        ("CDS_FHIR_CONNECT_TIMEOUT", "2s", "a number"),
        ("CDS_FHIR_READ_TIMEOUT", "nan", "a number"),
        ("CDS_FHIR_RETRIES", "-1", "a whole number of at least 0"),
        ("CDS_FHIR_MAX_PAGES", "0", "a whole number of at least 1"),
        ("CDS_FHIR_TOTAL_TIMEOUT", "inf", "a number"),
        ("CDS_FHIR_MAX_CONCURRENCY", "many", "a whole number"),
        ("CDS_MAX_REQUEST_BYTES", "5MB", "a whole number"),
        ("CDS_FHIR_ALLOW_HTTP", "maybe", "true or false"),
        ("CDS_FHIR_ALLOW_PRIVATE_ADDRESSES", "2", "true or false"),
        ("CDS_LOG_LEVEL", "verbose", "one of debug, info, warning, error, critical"),
    ],
)
def test_a_malformed_app_setting_names_the_variable_and_the_expected_form(name, value, form):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value})
    message = str(error.value)
    assert message.startswith(f"{name} must be {form}"), message
    assert repr(value) in message


@pytest.mark.parametrize(
    ("name", "value", "form"),
    [
        ("WEB_CONCURRENCY", "four", "a whole number"),
        ("WEB_CONCURRENCY", "0", "a whole number of at least 1"),
        ("CDS_WORKER_TIMEOUT", "30s", "a whole number"),
        ("CDS_GUNICORN_LOG_LEVEL", "loud", "one of debug, info, warning, error, critical"),
    ],
)
def test_a_malformed_server_setting_names_the_variable_and_the_expected_form(name, value, form):
    with pytest.raises(ConfigError, match=f"^{re.escape(f'{name} must be {form}')}"):
        ServerSettings.from_env({name: value})


def test_blank_values_keep_the_defaults():
    blank = {
        name: " "
        for name in (
            "CDS_AUDIT_RETENTION_DAYS",
            "CDS_FHIR_RETRIES",
            "CDS_FHIR_ALLOW_HTTP",
            "CDS_LOG_LEVEL",
            "WEB_CONCURRENCY",
            "CDS_WORKER_TIMEOUT",
            "CDS_BIND",
            "PROMETHEUS_MULTIPROC_DIR",
        )
    }
    assert Settings.from_env(blank) == Settings.from_env({})
    assert ServerSettings.from_env(blank) == ServerSettings.from_env({})


def test_the_server_settings_and_their_defaults():
    s = ServerSettings.from_env(
        {
            "CDS_BIND": "0.0.0.0:8080",
            "WEB_CONCURRENCY": "3",
            "CDS_WORKER_TIMEOUT": "60",
            "CDS_ACCESS_LOG": "off",
            "CDS_GUNICORN_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": "/run/metrics",
        }
    )
    assert (s.bind, s.workers, s.worker_timeout, s.access_log, s.log_level) == (
        "0.0.0.0:8080",
        3,
        60,
        None,
        "warning",
    )
    assert s.metrics_dir == Path("/run/metrics")
    d = ServerSettings.from_env({})
    assert (d.bind, d.worker_timeout, d.access_log, d.metrics_dir) == (
        "127.0.0.1:8080",
        30,
        "-",
        None,
    )
    assert d.workers >= 2


def test_the_app_and_gunicorn_read_the_metrics_directory_alike():
    env = {"PROMETHEUS_MULTIPROC_DIR": "/run/cds-metrics"}
    assert Settings.from_env(env).metrics_dir == ServerSettings.from_env(env).metrics_dir


def test_gunicorn_conf_takes_its_values_from_server_settings(monkeypatch, tmp_path):
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "WEB_CONCURRENCY": "3",
        "CDS_WORKER_TIMEOUT": "45",
        "CDS_ACCESS_LOG": "off",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "counter_1.db").write_bytes(b"stale")  # an earlier run's metric values
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["timeout"], conf["accesslog"]) == (3, 45, None)
    assert conf["metrics_dir"] == tmp_path and not list(tmp_path.glob("*.db"))


def test_gunicorn_conf_refuses_a_malformed_setting_without_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("WEB_CONCURRENCY", "lots")
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(CONF))
    assert str(exit_.value.code) == (
        "configuration error, the service does not start: "
        "WEB_CONCURRENCY must be a whole number, not 'lots'"
    )


# Reading the environment anywhere else would let two places parse one variable differently.
ENV_READ = re.compile(r"os\.environ\b(?!\[\"PROMETHEUS_MULTIPROC_DIR\"\] = )|os\.getenv\b")
ALLOWED = {ROOT / "service" / "config.py"}


def test_only_service_config_reads_the_environment():
    files = [*sorted((ROOT / "service").rglob("*.py")), CONF]
    readers = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files
        if path not in ALLOWED
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ENV_READ.search(line)
    ]
    assert not readers, "\n".join(readers)
