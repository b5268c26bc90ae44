# One image for the four services (and the local delivery sink): `python -m services.<name>`
# picks the service. PYTHON_IMAGE: the official python:3.11-slim, or where no registry can be
# reached the equivalent built from Debian's packages (deploy/images/python, deploy/engine.sh).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --uid 10001 --no-create-home shebao

# The pinned packages first, each checked against its hash (`make lock` writes the file): a
# change to the code does not reinstall them. The local stack's extras are not in the image.
COPY deploy/requirements.lock deploy/requirements.lock
RUN pip install --require-hashes --no-deps -r deploy/requirements.lock

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
RUN pip install --no-deps .

USER shebao
# Services listen on all interfaces inside the container; compose maps the ports.
ENV IDENTITY_HOST=0.0.0.0 CARD_HOST=0.0.0.0 ACTIVATION_HOST=0.0.0.0 \
    NOTIFICATION_HOST=0.0.0.0
# Ready: the service named by SHEBAO_SERVICE (or the one the command runs) answers /ready.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-m", "deploy.healthcheck"]
CMD ["python", "-m", "services.identity"]
