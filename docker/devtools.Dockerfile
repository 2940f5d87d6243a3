# syntax=docker/dockerfile:1
# Dev tools image for the Docker stack (compose.yaml): the local Batch
# (python -m overlord.localbatch), the local API gateway (python -m overlord.gateway)
# and the bootstrap (python -m overlord.devstack.bootstrap). Never deployed.
# Build from the repository root:
#   docker build -f docker/devtools.Dockerfile -t overlord-devtools:dev .
# checkov:skip=CKV_DOCKER_2: one image, several servers; compose.yaml gives each its own healthcheck

FROM python:3.12.8-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml README.md ./
# Runtime dependencies plus the [dev] extra (moto[server], typer, rich, docker SDK, ...).
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > requirements.txt \
 && pip install -r requirements.txt
COPY src ./src
COPY services ./services
COPY batch-worker ./batch-worker
RUN pip install --no-deps . \
 && python -c "import importlib.util; assert importlib.util.find_spec('overlord.localbatch')"

FROM python:3.12.8-slim-bookworm
RUN groupadd --system --gid 10001 overlord \
 && useradd --system --uid 10001 --gid overlord --home-dir /home/overlord --create-home --shell /usr/sbin/nologin overlord \
 && mkdir -p /data \
 && chown overlord:overlord /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/overlord
# Non-root by default (the gateway). The local Batch's docker executor talks to
# /var/run/docker.sock, whose owner differs per host, so compose runs that one
# service as root (see compose.yaml).
USER 10001:10001
EXPOSE 8000 8080
CMD ["python", "-m", "overlord.gateway", "--host", "0.0.0.0", "--port", "8080"]
