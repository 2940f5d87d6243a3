# Docker stack targets. The main Makefile includes this file:
#   include mk/docker.mk
# Needs a Docker engine with the compose plugin (`docker compose`) and BuildKit.

IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
COMPOSE ?= docker compose
OVERLORD_API_PORT ?= 8080
OVERLORD_API_URL ?= http://localhost:$(OVERLORD_API_PORT)
SMOKE_TIMEOUT ?= 180
LOGS_FLAGS ?= -f --tail=200
# a stack that is not healthy by then fails `make up` instead of hanging
UP_FLAGS ?= --wait-timeout 600
# compose.yaml reads these
export IMAGE_TAG OVERLORD_API_PORT

# image name -> Dockerfile (all built with the repository root as context)
DOCKER_IMAGES := submitter recorder worker devtools
dockerfile_submitter := services/submitter/Dockerfile
dockerfile_recorder := services/recorder/Dockerfile
dockerfile_worker := batch-worker/Dockerfile
dockerfile_devtools := devtools/Dockerfile

.PHONY: images $(addprefix image-,$(DOCKER_IMAGES)) up down smoke logs ps

images: $(addprefix image-,$(DOCKER_IMAGES)) ## Build the four images, tagged overlord-<name>:$(IMAGE_TAG)

# static pattern rule: make skips implicit-rule search for .PHONY targets
$(addprefix image-,$(DOCKER_IMAGES)): image-%:
	docker build -f $(dockerfile_$*) -t overlord-$*:$(IMAGE_TAG) .

up: image-worker ## Start the local stack (compose.yaml) and wait until it is healthy
	$(COMPOSE) up -d --build --wait $(UP_FLAGS)
	@echo "Overlord API: $(OVERLORD_API_URL)  (POST /jobs, GET /jobs/{job_id})"

smoke: ## POST an echo job to the running stack and wait for SUCCEEDED
	OVERLORD_API_URL=$(OVERLORD_API_URL) SMOKE_TIMEOUT=$(SMOKE_TIMEOUT) bash devtools/smoke.sh

down: ## Stop the local stack and delete its volumes
	$(COMPOSE) --profile build down -v --remove-orphans

logs: ## Follow the local stack's logs (SERVICE=name for one; LOGS_FLAGS= to print and exit)
	$(COMPOSE) logs $(LOGS_FLAGS) $(SERVICE)

ps: ## List the local stack's containers
	$(COMPOSE) ps -a
