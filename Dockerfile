# One image for both daemons: the container's arguments pick the program.
#
#   docker build -t kubectl-clusternet:0.1.0 .                          # with Helm support (about 250 MB more)
#   docker build --build-arg EXTRAS= -t kubectl-clusternet:0.1.0-slim .   # without: HelmReleases then fail
#   docker run --rm kubectl-clusternet:0.1.0 hub-lite --help
#   docker run --rm kubectl-clusternet:0.1.0 agent-lite --help
#   docker run --rm kubectl-clusternet:0.1.0 python -m hub_lite.proxy_app --help
#
# deploy/hub and deploy/agent (and `kubectl clusternet hub install --image` / `join --image`) run it as
# UID 65532 on a read-only root filesystem with /tmp on an emptyDir.

FROM python:3.11-slim AS build
# Optional extras: "helm" lets agents (and the hub, for oci:// charts) install HelmChart feeds.
ARG EXTRAS=helm
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kubectl_clusternet ./kubectl_clusternet
COPY hub_lite ./hub_lite
COPY agent_lite ./agent_lite
# Installed under /install, then copied whole into the runtime image: no sources, caches or build tools there.
RUN pip install --prefix=/install ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
LABEL org.opencontainers.image.title="kubectl-clusternet" \
      org.opencontainers.image.description="hub-lite and agent-lite: Clusternet-compatible hub and agent" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
RUN groupadd --system --gid 65532 clusternet \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin clusternet \
 && hub-lite --version && agent-lite --version
USER 65532:65532
# No ENTRYPOINT: Kubernetes `args` (or `docker run IMAGE ...`) name the program, hub-lite or agent-lite.
CMD ["hub-lite", "--help"]
