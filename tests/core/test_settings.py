"""Settings come from the environment, and production settings pass Django's deploy checks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.core.test_csp import POLICY

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 64 + "production-like-secret-key-for-the-deploy-check",
    "ALLOWED_HOSTS": "takehomes.example.com",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
    "CACHE_URL": "redis://redis.invalid:6379/1",  # the checks read the setting; nothing connects
}


def _manage(*args, env=None):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_the_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_a_cache_the_web_processes_share():
    """Sign-in and link limits count in the cache: one per process would multiply them."""
    result = _manage("check", "--deploy", env={**PRODUCTION_ENV, "CACHE_URL": ""})
    assert result.returncode != 0
    assert "core.E001" in result.stderr and "CACHE_URL" in result.stderr


def test_check_deploy_warns_behind_a_proxy_with_no_trusted_proxy_count():
    env = {**PRODUCTION_ENV, "BEHIND_TLS_PROXY": "1"}
    assert "core.W002" in _manage("check", "--deploy", env=env).stderr
    assert "core.W002" not in _manage("check", "--deploy", env={**env, "TRUSTED_PROXY_COUNT": "1"}).stderr


def test_make_run_starts_on_its_local_memory_cache():
    result = _manage("check", env={"DEBUG": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_development_has_the_production_content_security_policy():
    """`make run` must break where production would: the same policy, enforced, with DEBUG on."""
    show = (
        "from django.conf import settings as s; from django.utils.csp import build_policy; "
        "print(build_policy(s.SECURE_CSP)); print('django.middleware.csp.ContentSecurityPolicyMiddleware' in "
        "s.MIDDLEWARE)"
    )
    production = _manage("shell", "-c", show, env=PRODUCTION_ENV)
    development = _manage("shell", "-c", show, env={"DEBUG": "1"})
    assert production.stdout.splitlines()[-2:] == [POLICY, "True"], production.stdout + production.stderr
    assert development.stdout.splitlines()[-2:] == [POLICY, "True"], development.stdout + development.stderr


def test_it_refuses_to_start_without_a_secret_key_in_production():
    result = _manage("check", env={"ALLOWED_HOSTS": "x.example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-" + "y" * 60 + "\n")
    result = _manage(
        "shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)",
        env={**PRODUCTION_ENV, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret)},
    )  # fmt: skip
    assert result.stdout.strip().endswith("from-a-file-" + "y" * 60), result.stderr


def test_a_bad_boolean_is_a_clear_error():
    result = _manage("check", env={**PRODUCTION_ENV, "DEBUG": "maybe"})
    assert "DEBUG must be a boolean" in result.stderr


def test_every_command_in_docker_compose_exists():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    assert "uploads" in compose["volumes"]
    web_cmd = " ".join(services["web"]["command"])
    assert "gunicorn" in web_cmd and "config.wsgi" in web_cmd
    assert (ROOT / "config" / "wsgi.py").exists()
    assert "-A config worker" in " ".join(services["worker"]["command"])
    assert "-A config beat" in " ".join(services["beat"]["command"])
    # Every manage.py subcommand named in the compose file or the Dockerfile is a real command.
    from django.core.management import get_commands

    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "Dockerfile").read_text()
    named = {re.match(r"[a-z_]+", word).group() for word in text.split("manage.py ")[1:]}
    assert named and named <= set(get_commands()), named - set(get_commands())
    for service in ("web", "worker", "beat"):
        assert services[service]["build"] or services[service]["image"]


def test_compose_publishes_only_the_proxy_and_the_app_trusts_it_alone():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}, published
    assert services["web"]["expose"] == ["8000"]
    assert services["web"]["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    assert services["web"]["environment"]["CACHE_URL"].startswith("redis://")
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    caddyfile = (ROOT / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
    # Caddy then trusts no client's X-Forwarded-For, and keeps no access log of magic links.
    code = [line.split("#")[0] for line in caddyfile.splitlines()]
    assert not any("trusted_proxies" in line or line.strip().startswith("log") for line in code)
    # Nothing starts on settings that fail the deploy checks.
    assert "manage.py check --deploy &&" in services["migrate"]["command"][-1]
