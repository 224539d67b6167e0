# korrel8's image: `docker build -t korrel8 .`, then `docker run --rm korrel8 --help`.
# It runs `korrel8 serve` as a non-root user (uid 10001, which deploy/deployment.yaml names);
# configure it through the environment (NEO4J_URI, KORREL8_...) or a korrel8.yaml named by
# KORREL8_CONFIG (see korrel8/config.py, docker-compose.yml and deploy/).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY korrel8/ korrel8/
COPY ingest/ ingest/
COPY cypher/ cypher/

# The exact versions CI tests (constraints.txt). The wheel holds cypher/ under
# share/korrel8/cypher; the source trees are still copied beside the installed packages
# (-n never replaces an installed file), where korrel8 looks first, so that a data file
# pyproject.toml might leave out is there too. The smoke test fails the build if a file is
# missing.
RUN pip install -c constraints.txt . \
 && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && cp -rn korrel8 ingest cypher "$site/" \
 && cd / \
 && python -c "from korrel8 import rules; from korrel8.graph import statements; from korrel8.render import html; \
from ingest.k8s.kinds import builtin_kinds; statements.load_many('schema'); rules.load(); \
builtin_kinds(); html.library_version()" \
 && korrel8 --help >/dev/null \
 && rm -rf /src

# A fixed numeric uid, so that Kubernetes' runAsNonRoot can verify it.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin korrel8
USER 10001:10001
WORKDIR /home/korrel8

# The REST API, MCP, /healthz and /metrics; serve.host defaults to loopback, which a
# container cannot publish.
ENV KORREL8_SERVE__HOST=0.0.0.0
EXPOSE 9464

ENTRYPOINT ["korrel8"]
CMD ["serve"]
