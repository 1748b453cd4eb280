"""compose.yaml, the Dockerfile and .env.example against the README and the settings (Docker does not run on the
development machines; tests/deploy/test_deployment.py runs compose's commands natively)."""
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def command_tokens(command) -> tuple:
    return tuple(shlex.split(command) if isinstance(command, str) else command)


def code_blocks(text: str):
    """(language, body) of each fenced code block of a Markdown text."""
    language, body = None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                yield language, "\n".join(body) + "\n"
                language = None
        elif language is not None:
            body.append(line)


def readme_commands(text: str) -> set:
    """Every command in the README's shell code blocks, as tokens: continuation lines joined, comments and the
    leading VAR=value assignments dropped."""
    commands = set()
    for language, block in code_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        for line in block.replace("\\\n", " ").splitlines():
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:  # not a shell line (an unbalanced quote in prose)
                continue
            while tokens and ENV_ASSIGNMENT.match(tokens[0]):
                tokens.pop(0)
            if tokens:
                commands.add(tuple(tokens))
    return commands


def routed_queues() -> set:
    """The queues the app routes tasks to: the queue each registered task names (the router reads it), and the
    default queue, which takes the rest."""
    from annotator.common.tasks import task_route
    from annotator.config.celery import app

    app.loader.import_default_modules()  # what a worker does at start: every tasks module
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for name, task in app.tasks.items():
        if not name.startswith("celery."):
            queues.add((task_route(name, (), {}, {}, task=task) or {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE))
    return queues


def worker_queues(tokens: tuple) -> set:
    if tokens[:4] != ("celery", "-A", "annotator", "worker"):
        return set()
    for flag in ("-Q", "--queues"):
        if flag in tokens:
            return set(tokens[tokens.index(flag) + 1].split(","))
    return {settings.CELERY_TASK_DEFAULT_QUEUE}


def test_the_readme_parser_finds_the_worker_commands():
    commands = readme_commands((ROOT / "README.md").read_text())
    assert ("celery", "-A", "annotator", "beat") in commands
    assert ("celery", "-A", "annotator", "worker", "-Q", "model,default,jobs", "--concurrency", "1") in commands
    # Assignments before the command and comments after it are not part of it.
    assert not any(c[0].startswith("REDIS_URL=") or "#" in c for c in commands)


def test_every_service_command_is_one_the_readme_documents():
    documented = readme_commands((ROOT / "README.md").read_text())
    services = compose()["services"]
    with_commands = {name: command_tokens(s["command"]) for name, s in services.items() if "command" in s}
    assert len(with_commands) >= 8, sorted(with_commands)
    missing = {name: " ".join(tokens) for name, tokens in with_commands.items() if tokens not in documented}
    assert not missing, f"compose.yaml runs commands README.md does not document: {missing}"


def test_each_queue_the_app_routes_to_has_a_worker_service():
    queues = routed_queues()
    assert {"default", "model"} <= queues, queues
    jobs_queue = getattr(settings, "CELERY_JOBS_QUEUE", None)
    if jobs_queue:
        assert jobs_queue in queues
    services = compose()["services"]
    # The stack without profiles must serve every queue; the gpu profile only adds a worker.
    served = set()
    for service in services.values():
        if "command" in service and not service.get("profiles"):
            served |= worker_queues(command_tokens(service["command"]))
    assert queues <= served, f"queues with no worker service: {sorted(queues - served)}"
    for name, service in services.items():
        if worker_queues(command_tokens(service.get("command", ""))):
            assert "-n" in command_tokens(service["command"]), f"{name}: workers need distinct names (-n)"
    beats = [n for n, s in services.items() if command_tokens(s.get("command", ""))[:4] == ("celery", "-A", "annotator", "beat")]
    assert len(beats) == 1, f"exactly one beat per deployment, not {beats}"


def test_the_web_service_runs_gunicorn_with_the_projects_config():
    web = compose()["services"]["web"]
    assert command_tokens(web["command"]) == (
        "gunicorn", "--config", "python:annotator.config.gunicorn", "annotator.config.wsgi")
    assert (ROOT / "annotator" / "config" / "gunicorn.py").is_file()
    assert any(str(port).startswith("127.0.0.1:") for port in web["ports"]), "only the proxy should reach gunicorn"


def test_the_gpu_worker_is_optional_and_reserves_nvidia_devices():
    gpu = compose()["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert worker_queues(command_tokens(gpu["command"])) == {settings.CELERY_MODEL_QUEUE}
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "TORCH_VARIANT" in gpu["build"]["args"] and gpu["environment"]["SUGGEST_DEVICE"] == "cuda"


def test_the_database_and_the_media_live_in_named_volumes():
    spec = compose()
    volumes = set(spec["volumes"])
    assert {"pgdata", "media"} <= volumes
    assert "pgdata:/var/lib/postgresql/data" in spec["services"]["postgres"]["volumes"]
    for name, service in spec["services"].items():
        if service.get("command", "").startswith(("gunicorn", "celery", "python manage.py")):
            media_root = service["environment"]["MEDIA_ROOT"]
            assert f"media:{media_root}" in service["volumes"], f"{name} does not see the crops"
            assert service["env_file"] == ".env"


def test_every_variable_compose_reads_is_in_env_example_and_the_readme_names_it():
    text = (ROOT / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used - {"IMAGE_TAG"} <= example, f"compose.yaml reads variables .env.example lacks: {used - example}"
    for required in ("SECRET_KEY", "POSTGRES_PASSWORD", "ALLOWED_HOSTS", "BEHIND_PROXY", "FLOWER_BASIC_AUTH"):
        assert required in example
    readme = (ROOT / "README.md").read_text()
    assert "cp .env.example .env" in readme


def dockerfile_instructions() -> list:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_dockerfile_takes_the_torch_wheel_as_a_build_arg_and_runs_as_a_user():
    instructions = dockerfile_instructions()
    assert instructions[0] == "FROM python:3.11-slim"
    args = {line.split()[1].split("=")[0]: line for line in instructions if line.startswith("ARG ")}
    assert "ARG TORCH_VARIANT=cpu" in args.values()
    assert "TORCH_INDEX" in args and "${TORCH_VARIANT}" in args["TORCH_INDEX"]
    install = next(line for line in instructions if "--index-url" in line)
    assert '"$TORCH_INDEX"' in install and "pip install -r" in install
    assert any("collectstatic --noinput" in line for line in instructions)
    users = [line for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    # compose's build args are ones the Dockerfile declares.
    for name, service in compose()["services"].items():
        if isinstance(service.get("build"), dict):
            assert set(service["build"].get("args", {})) <= set(args), name


@pytest.mark.parametrize("path", ["compose.yaml", "Dockerfile", ".env.example", ".dockerignore", "requirements-web.txt"])
def test_the_readme_names_the_deployment_files(path):
    assert f"`{path}`" in (ROOT / "README.md").read_text()


def test_the_nginx_sample_fits_the_upload_limit_and_gunicorns_timeout():
    from annotator.config import gunicorn

    [nginx] = [body for language, body in code_blocks((ROOT / "README.md").read_text()) if language == "nginx"]
    body_size = re.search(r"client_max_body_size\s+(\d+)m;", nginx)
    assert body_size and int(body_size.group(1)) * 1024 * 1024 == settings.PHOTO_UPLOAD_MAX_REQUEST_BYTES
    read_timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", nginx)
    assert read_timeout and int(read_timeout.group(1)) > gunicorn.timeout  # gunicorn answers first, not a proxy 504
    for header in ("Host $host", "X-Forwarded-Proto $scheme", "X-Forwarded-For   $proxy_add_x_forwarded_for"):
        assert f"proxy_set_header {header};" in nginx
    assert "proxy_pass http://127.0.0.1:8000;" in nginx
