"""The service files stay runnable: deploy/claude-any.service's ExecStart and the Dockerfile's command are
claude-any command lines that serve `/health` (run here, with their paths pointed at a test config), the
container binds a non-loopback address only with a token, and where the tools exist the unit is verified by
systemd-analyze and the image is built and started."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from cli_process import Running, free_port, wait_until_listening

from claude_any.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "claude-any.service"
DOCKERFILE = ROOT / "Dockerfile"
TOKEN = "test-token-for-the-service"
CONFIG = """\
providers:
  echo: {kind: echo}
model_categories:
  large: echo/echo-large
  small: echo/echo-small
server:
  auth_token: ${CLAUDE_ANY_TOKEN}
"""


def _unit() -> dict[str, list[str]]:
    """The unit's `Key=value` lines, by key (systemd allows a key more than once)."""
    entries: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def _dockerfile() -> dict[str, list[str]]:
    """The Dockerfile's instructions, by name (comments and continuation lines left out)."""
    found: dict[str, list[str]] = {}
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and not line.startswith(" "):
            name, _, rest = line.partition(" ")
            found.setdefault(name.upper(), []).append(rest.strip())
    return found


def _docker_command() -> list[str]:
    """ENTRYPOINT + CMD of the Dockerfile, both in exec (JSON) form."""
    instructions = _dockerfile()
    return [*json.loads(instructions["ENTRYPOINT"][-1]), *json.loads(instructions["CMD"][-1])]


def _serve(args: list[str], tmp_path: Path, env: dict[str, str]) -> None:
    """Run `claude-any ARGS` here, check /health and that the API wants the token, and stop it."""
    server = Running(args, tmp_path, cwd=tmp_path, env=env)
    try:
        found = server.wait_for_line(r"serving (http://\S+)")
        url = found.group(1).replace("0.0.0.0", "127.0.0.1").rstrip("/")
        wait_until_listening(url)
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        assert httpx.get(url + "/v1/models", timeout=5).status_code == 401
        answer = httpx.get(url + "/v1/models", headers={"x-api-key": TOKEN}, timeout=5)
        assert answer.status_code == 200
    finally:
        status, stderr = server.interrupt()
    assert status in (0, 130) and "Traceback" not in stderr, stderr


def test_the_unit_runs_claude_any_from_a_routes_json_with_its_keys_from_a_file(tmp_path: Path) -> None:
    unit = _unit()
    program, *args = shlex.split(unit["ExecStart"][0])
    assert Path(program).name == "claude-any"
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.routes.endswith("routes.json")
    assert unit["User"] != ["root"] and unit["EnvironmentFile"] and unit["Restart"] == ["on-failure"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # a config error is not restarted in a loop

    # The same command line, with its routes.json compiled from a config whose keys come from the
    # environment (what the EnvironmentFile gives it), serves.
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    routes = tmp_path / "routes.json"
    compiled = subprocess.run(
        [shutil.which("claude-any") or "claude-any", "compile", "config.yaml", "-o", str(routes)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert compiled.returncode == 0, compiled.stderr
    assert TOKEN not in routes.read_text(encoding="utf-8")
    local = [str(routes) if arg == parsed.routes else arg for arg in args[1:]]
    _serve([*local, "--port", str(free_port())], tmp_path, {"CLAUDE_ANY_TOKEN": TOKEN})


def test_the_image_runs_claude_any_on_all_addresses_as_a_user_not_root(tmp_path: Path) -> None:
    instructions = _dockerfile()
    assert instructions["FROM"] == ["python:3.11-slim"]
    assert instructions["USER"] and instructions["USER"][-1] not in ("root", "0")
    program, *args = _docker_command()
    assert program == "claude-any"
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.host == "0.0.0.0"

    # The image's command, run here with its config path pointed at a config that sets the token.
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    local = [str(tmp_path / "config.yaml") if arg == parsed.routes else arg for arg in args[1:]]
    port = local.index("--port") + 1
    local[port] = str(free_port())
    _serve(local, tmp_path, {"CLAUDE_ANY_TOKEN": TOKEN})


def test_the_image_command_refuses_to_serve_without_a_token(tmp_path: Path) -> None:
    """What the README says of the container: on 0.0.0.0 a config without `server.auth_token` is refused."""
    (tmp_path / "config.yaml").write_text(CONFIG.split("server:")[0], encoding="utf-8")
    _, *args = _docker_command()
    local = [str(tmp_path / "config.yaml") if arg.startswith("/etc/") else arg for arg in args[1:]]
    server = Running(local, tmp_path, cwd=tmp_path)
    status, stderr = server.proc.wait(timeout=30), server.proc.communicate()[1]
    assert status == 2 and "auth_token" in stderr and "Traceback" not in stderr, stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this installation's claude-any.
    installed = shutil.which("claude-any")
    assert installed, "claude-any is not on PATH (pip install -e .)"
    program = shlex.split(_unit()["ExecStart"][0])[0]
    unit = tmp_path / "claude-any.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(program, installed), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "claude-any.service" not in result.stderr, result.stderr


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_answers(), reason="no Docker daemon answers here (docker info fails)")
def test_the_image_builds_and_serves_health(tmp_path: Path) -> None:
    tag = f"claude-any-test:{uuid.uuid4().hex[:12]}"
    build = subprocess.run(
        ["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=900
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "config.yaml").chmod(0o644)
    port = free_port()
    name = f"claude-any-test-{uuid.uuid4().hex[:12]}"
    try:
        started = subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "-p",
                f"127.0.0.1:{port}:8082",
                "-e",
                f"CLAUDE_ANY_TOKEN={TOKEN}",
                "-v",
                f"{tmp_path / 'config.yaml'}:/etc/claude-any/config.yaml:ro",
                tag,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        wait_until_listening(f"http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 401
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
