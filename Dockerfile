# One image for the four services: `python -m services.<name>` picks the service.
# PYTHON_IMAGE: the official python:3.11-slim, or where no registry can be reached the
# equivalent built from Debian's packages (deploy/images/python, made by deploy/engine.sh).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
RUN pip install . && useradd --uid 10001 --no-create-home shebao

USER shebao
# Services listen on all interfaces inside the container; compose maps the ports.
ENV IDENTITY_HOST=0.0.0.0 CARD_HOST=0.0.0.0 ACTIVATION_HOST=0.0.0.0 NOTIFICATION_HOST=0.0.0.0
CMD ["python", "-m", "services.identity"]
