"""docker-compose.yml, the Dockerfile and deploy/ agree with each other and with the code.

No Docker engine is needed: these parse the files and check what an operator relies on
(images, ports, settings, start-up order, mounted files, registered search attributes).
"""

import re
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from nurture.temporal import search_attributes

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NURTURE_SERVICES = ("api", "worker", "migrate")
# Scripts run by temporalio/admin-tools, an Alpine image with no bash.
ADMIN_TOOLS_SCRIPTS = ("setup-postgres.sh", "create-namespace.sh")
DEPENDENCY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


@cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service(name: str) -> dict:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def installed_packages() -> list[str]:
    """Top-level packages `pip install .` installs, from pyproject.toml's find include."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return [pattern.rstrip("*").rstrip(".") for pattern in include]


def resolve(value: object) -> str:
    """A value as compose would see it with no .env: defaults filled in, required ones named."""

    def substitute(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if kind == "-":
            return rest
        if kind == "?":
            return f"<{name}>"
        return ""

    return _VARIABLE.sub(substitute, str(value))


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: resolve(value) for key, value in env.items()}


def published_ports(name: str) -> dict[int, int]:
    """Container port -> host port for a service's `ports:` (short or long syntax)."""
    ports: dict[int, int] = {}
    for entry in service(name).get("ports", []):
        if isinstance(entry, dict):
            ports[int(entry["target"])] = int(entry["published"])
        else:
            *_, host, container = resolve(entry).split("/")[0].split(":")
            ports[int(container)] = int(host)
    return ports


def dependencies(name: str) -> dict[str, str]:
    """Service -> condition that `name` waits for (the short list form means service_started)."""
    depends_on = service(name).get("depends_on", {})
    if isinstance(depends_on, list):
        return {dep: "service_started" for dep in depends_on}
    return {dep: spec.get("condition", "service_started") for dep, spec in depends_on.items()}


def bind_mounts(name: str) -> list[tuple[str, str]]:
    """(host path, container path) of each bind mount from the project folder."""
    mounts = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def test_services_run_the_expected_images():
    expected = {
        "postgresql": "postgres:16",
        "temporal-admin-tools": "temporalio/admin-tools:1.30.1",
        "temporal": "temporalio/server:1.30.1",
        "temporal-create-namespace": "temporalio/admin-tools:1.30.1",
        "temporal-ui": "temporalio/ui:2.34.0",
    }
    for name, image in expected.items():
        assert service(name).get("image") == image, f"{name} should run {image}"
    unexpected = set(compose()["services"]) - set(expected) - set(NURTURE_SERVICES)
    assert not unexpected, f"services this test does not know about: {sorted(unexpected)}"


def test_nurture_services_are_built_from_the_dockerfile():
    images = set()
    for name in NURTURE_SERVICES:
        build = service(name).get("build")
        assert build, f"{name} must be built from the Dockerfile (no build:)"
        if isinstance(build, str):
            build = {"context": build}
        context = ROOT / build["context"]
        assert context.resolve() == ROOT, f"{name} should build from the repository root"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: no Dockerfile"
        images.add(service(name).get("image"))
    # One image for all three, so the API, the worker and the migrations are always the same code.
    assert len(images) == 1, f"api, worker and migrate should share one image, got {images}"


def test_temporal_persists_to_the_postgresql_service():
    postgres = environment("postgresql")
    for name in ("temporal", "temporal-admin-tools"):
        env = environment(name)
        assert env.get("DB") == "postgres12", f"{name} should use the postgres12 plugin"
        assert env.get("POSTGRES_SEEDS") == "postgresql", f"{name} should reach the postgresql service"
        assert env.get("DB_PORT") == "5432", f"{name} should use PostgreSQL's port"
        assert env.get("POSTGRES_USER") == postgres["POSTGRES_USER"], f"{name}: wrong database user"
        assert env.get("POSTGRES_PWD") == postgres["POSTGRES_PASSWORD"], f"{name}: wrong password"
    # temporal-sql-tool reads its password from SQL_PASSWORD.
    assert environment("temporal-admin-tools").get("SQL_PASSWORD") == postgres["POSTGRES_PASSWORD"]
    assert environment("temporal").get("BIND_ON_IP") == "0.0.0.0", "Temporal must listen beyond loopback"
    assert "postgresql-data" in compose().get("volumes", {}), "PostgreSQL data needs a named volume"


def test_temporal_dynamic_config_is_mounted():
    path = environment("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    for source, target in bind_mounts("temporal"):
        if path.startswith(target.rstrip("/") + "/"):
            local = ROOT / source / path[len(target.rstrip("/")) + 1 :]
            assert local.is_file(), f"DYNAMIC_CONFIG_FILE_PATH {path} maps to missing {local}"
            assert isinstance(yaml.safe_load(local.read_text()), dict), f"{local} is not a YAML mapping"
            return
    pytest.fail(f"DYNAMIC_CONFIG_FILE_PATH {path} is not inside any volume of the temporal service")


def test_ports_are_published_for_temporal_the_ui_and_the_api():
    assert published_ports("temporal").get(7233) == 7233, "Temporal's frontend should be on host 7233"
    assert 8080 in published_ports("temporal-ui"), "the Temporal UI (container port 8080) is not published"
    assert published_ports("api").get(8000) == 8000, "the API should be on host port 8000"
    ui_port = published_ports("temporal-ui")[8080]
    for name in NURTURE_SERVICES:
        ui_url = urlsplit(environment(name)["NURTURE_TEMPORAL_UI_URL"])
        assert ui_url.port == ui_port, f"{name}: NURTURE_TEMPORAL_UI_URL should use host port {ui_port}"
    assert environment("api")["NURTURE_API_PORT"] == "8000", "the API must listen on the published port"
    assert environment("api")["NURTURE_API_HOST"] == "0.0.0.0", "the API must listen beyond loopback"


def test_nurture_services_share_production_settings():
    namespace = environment("temporal-create-namespace")["DEFAULT_NAMESPACE"]
    for name in NURTURE_SERVICES:
        env = environment(name)
        assert env.get("NURTURE_ENV") == "production", f"{name}: NURTURE_ENV should be production"
        url = urlsplit(env.get("NURTURE_DATABASE_URL", ""))
        assert url.scheme == "postgresql+psycopg", f"{name}: the database URL should use psycopg 3"
        assert url.hostname == "postgresql", f"{name}: the database URL should name the postgresql service"
        assert url.path == "/nurture", f"{name}: the database should be nurture"
        assert env.get("NURTURE_TEMPORAL_ADDRESS") == "temporal:7233", f"{name}: wrong Temporal address"
        assert env.get("NURTURE_TEMPORAL_NAMESPACE") == namespace, f"{name}: not the namespace created"
        # Compose itself refuses to start without a secret, rather than the app failing later.
        for secret in ("NURTURE_SECRET_KEY", "NURTURE_POSTMARK_SERVER_TOKEN", "NURTURE_WEBHOOK_PASSWORD"):
            assert env.get(secret) == f"<{secret}>", (
                f"{name}: {secret} should be required with ${{{secret}:?...}}"
            )
        assert env.get("NURTURE_POSTMARK_API_URL") == "https://api.postmarkapp.com/", (
            f"{name}: production sends through Postmark itself, not the local server"
        )


def test_init_script_creates_the_database_in_the_url():
    url = urlsplit(environment("api")["NURTURE_DATABASE_URL"])
    script = (DEPLOY / "postgres" / "create-nurture-db.sh").read_text()
    assert f"CREATE ROLE {url.username} LOGIN" in script, "the init script should create the URL's role"
    assert f"CREATE DATABASE {url.path.lstrip('/')} OWNER {url.username}" in script
    # The password the init script sets is the one in the URL.
    assert environment("postgresql").get("NURTURE_DB_PASSWORD") == url.password
    assert "NURTURE_DB_PASSWORD" in script
    mounts = dict(bind_mounts("postgresql"))
    assert mounts.get("./deploy/postgres/create-nurture-db.sh", "").startswith(
        "/docker-entrypoint-initdb.d/"
    ), "the init script must be mounted into /docker-entrypoint-initdb.d"


def test_start_up_order_is_complete_and_acyclic():
    services = compose()["services"]
    for name in services:
        for dep, condition in dependencies(name).items():
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert condition in DEPENDENCY_CONDITIONS, f"{name} -> {dep}: unknown condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} healthy: no healthcheck"
            if condition == "service_completed_successfully":
                restart = str(services[dep].get("restart", "no"))
                assert restart == "no" or restart.startswith("on-failure"), (
                    f"{dep} is a one-off job that {name} waits to finish: it must not restart forever"
                )

    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in visiting, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in order:
            return
        visiting.add(name)
        for dep in dependencies(name):
            visit(dep, (*path, name))
        visiting.discard(name)
        order.append(name)

    for name in services:
        visit(name, ())

    expected = {
        "temporal-admin-tools": {"postgresql": "service_healthy"},
        "temporal": {"temporal-admin-tools": "service_completed_successfully"},
        "temporal-create-namespace": {"temporal": "service_healthy"},
        "temporal-ui": {"temporal": "service_healthy"},
        "migrate": {"postgresql": "service_healthy"},
        "api": {
            "migrate": "service_completed_successfully",
            "temporal-create-namespace": "service_completed_successfully",
        },
        "worker": {
            "migrate": "service_completed_successfully",
            "temporal-create-namespace": "service_completed_successfully",
        },
    }
    for name, deps in expected.items():
        for dep, condition in deps.items():
            assert dependencies(name).get(dep) == condition, f"{name} should wait for {dep}: {condition}"


def test_mounted_files_exist_under_deploy():
    named_volumes = set(compose().get("volumes") or {})
    for name, spec in compose()["services"].items():
        for source, target in bind_mounts(name):
            local = (ROOT / source).resolve()
            assert local.is_relative_to(DEPLOY), f"{name} mounts {source}: keep mounted files in deploy/"
            assert local.exists(), f"{name} mounts {source} into {target}, but it does not exist"
        for volume in spec.get("volumes", []):
            source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            if source and not source.startswith((".", "/")):
                assert source in named_volumes, f"{name} uses undeclared named volume {source!r}"


def test_admin_tools_scripts_are_mounted_and_run_with_sh():
    for name, script in (
        ("temporal-admin-tools", "setup-postgres.sh"),
        ("temporal-create-namespace", "create-namespace.sh"),
    ):
        spec = service(name)
        targets = {target: source for source, target in bind_mounts(name)}
        command = spec.get("command")
        command = command if isinstance(command, list) else str(command).split()
        assert spec.get("entrypoint") in (["/bin/sh"], "/bin/sh"), f"{name}: run scripts with /bin/sh"
        assert command and command[0] in targets, f"{name} runs {command}, which is not mounted"
        assert Path(targets[command[0]]).name == script, f"{name} should run deploy/temporal/{script}"


def test_schema_script_sets_up_both_temporal_databases():
    script = (DEPLOY / "temporal" / "setup-postgres.sh").read_text()
    assert "temporal-sql-tool --plugin postgres12" in script
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"{database}:{schema}" in script, f"setup-postgres.sh should set up {database}"
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script, f"setup-postgres.sh is missing `{step}`"


def test_namespace_script_registers_exactly_the_project_search_attributes():
    script = (DEPLOY / "temporal" / "create-namespace.sh").read_text()
    match = re.search(r'^SEARCH_ATTRIBUTES="([^"]*)"$', script, re.MULTILINE)
    assert match, 'create-namespace.sh should list its attributes in SEARCH_ATTRIBUTES="..."'
    in_script = match.group(1).split()
    in_code = [key.name for key in search_attributes.ALL]
    assert len(in_script) == len(set(in_script)), f"duplicate names in the script: {in_script}"
    assert set(in_script) == set(in_code), (
        f"create-namespace.sh registers {sorted(in_script)}, "
        f"nurture.temporal.search_attributes.ALL has {sorted(in_code)}"
    )
    assert "search-attribute create" in script and "--type Keyword" in script
    assert all(key.indexed_value_type.name == "KEYWORD" for key in search_attributes.ALL), (
        "the script registers Keyword attributes only; update it for other types"
    )
    assert "namespace create" in script, "create-namespace.sh should create the namespace"
    assert "cluster health" in script, "create-namespace.sh should wait for the cluster"


def test_nurture_commands_are_cli_subcommands():
    cli = ROOT / "nurture" / "cli" / "main.py"
    assert cli.is_file(), "nurture/cli/main.py (the `nurture` entry point) does not exist"
    text = cli.read_text()
    for name in NURTURE_SERVICES:
        command = service(name).get("command")
        command = command if isinstance(command, list) else str(command).split()
        assert command == ["nurture", name], f"{name} should run `nurture {name}`, not {command}"
        defined = re.search(rf'def {name}\(|command\(\s*(name=)?"{name}"', text)
        assert defined, f"nurture/cli/main.py defines no `{name}` command"


def test_dockerfile_installs_the_project_and_runs_nurture():
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert instructions[0] == "FROM python:3.11-slim", "the image should build on python:3.11-slim"
    copied = " ".join(line for line in instructions if line.startswith("COPY"))
    # Every package pyproject.toml installs, and the files setuptools reads.
    for needed in ("pyproject.toml", "README.md", *installed_packages()):
        assert re.search(rf"\b{re.escape(needed)}\b", copied), f"the Dockerfile does not copy {needed}"
    assert re.search(r"pip install .*--no-cache-dir .*\.(\s|$)", dockerfile), "no `pip install .`"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image should run as a non-root user"
    cmd = next(line for line in reversed(instructions) if line.startswith(("CMD", "ENTRYPOINT")))
    assert cmd == 'CMD ["nurture", "api"]', f"the default command should be `nurture api`, got {cmd}"


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for entry in (".venv", ".nurture", "tests", ".git", "bench", ".env"):
        assert entry in ignored, f".dockerignore should exclude {entry}"
    assert any("__pycache__" in entry for entry in ignored), ".dockerignore should exclude __pycache__"
    for needed in ("pyproject.toml", "README.md", *installed_packages()):
        assert needed not in ignored, f".dockerignore excludes {needed}, which the build needs"


def test_env_example_documents_every_variable():
    compose_text = (ROOT / "docker-compose.yml").read_text()
    used = {match.group(1) for match in _VARIABLE.finditer(compose_text)}
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert used <= documented, f".env.example does not mention {sorted(used - documented)}"
    assert "NURTURE_SECRET_KEY" in used, "compose should take the secret from the environment"


SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(DEPLOY)) for s in SCRIPTS])
def test_deploy_scripts_parse(script: Path):
    shells = ["bash"]
    if script.name in ADMIN_TOOLS_SCRIPTS:
        assert script.read_text().startswith("#!/bin/sh\n"), f"{script.name} runs where there is no bash"
        shells.append("dash")  # closer to Alpine's busybox sh than bash is
    for shell in shells:
        if shutil.which(shell) is None:
            continue
        result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"`{shell} -n {script.name}` failed: {result.stderr}"
