# botops: the daemon (`botops run`) in a container. Build: docker build -t botops:0.1.0 .
# Volumes, environment, time zones, stopping and upgrading: docs/deployment.md.

# --- build: install botops and its pinned dependencies into a virtual environment -------------
FROM python:3.11-slim-trixie AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY botops ./botops
# Every dependency at the exact version in constraints.txt (`make lock`); all are wheels, so no
# compiler is needed. The postgres extra: several replicas share one PostgreSQL database.
RUN python -m venv /opt/botops \
    && /opt/botops/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c constraints.txt ".[postgres]"

# --- runtime: the virtual environment only, run as an unprivileged user ------------------------
FROM python:3.11-slim-trixie
RUN groupadd --system --gid 10001 botops \
    && useradd --system --uid 10001 --gid botops --no-create-home \
        --home-dir /var/lib/botops --shell /usr/sbin/nologin botops \
    && mkdir -p /var/lib/botops /etc/botops \
    && chown botops:botops /var/lib/botops
COPY --from=build /opt/botops /opt/botops
# An empty config file: settings come from BOTOPS_* variables unless you mount your own here.
COPY deploy/image-config.yaml /etc/botops/config.yaml

# The playbooks are not in the image: mount the ops git checkout at /srv/botops (read-only; the
# daemon reloads sops/ and templates/ when they change). The whole checkout, not sops/ and
# templates/ alone: attachments are files relative to the playbooks (`../assets/...`). Without
# them `botops run` stops with a clear error.
# Time zones: every schedule is computed with zoneinfo in the `timezone` setting (default
# Asia/Shanghai; the tzdata wheel installed above is there if the system has no database),
# never in the host's or the container's local time, so a container in UTC still sends 07:30
# messages at 07:30 Beijing time. TZ only makes `date`, `ls -l` and the like readable for
# people; correctness does not depend on it.
ENV PATH=/opt/botops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BOTOPS_CONFIG=/etc/botops/config.yaml \
    BOTOPS_DATA_DIR=/var/lib/botops \
    BOTOPS_SOPS_DIR=/srv/botops/sops \
    BOTOPS_TEMPLATES_DIR=/srv/botops/templates \
    TZ=Asia/Shanghai

# The SQLite database (the default `database.url`) lives here; with PostgreSQL it stays empty.
VOLUME ["/var/lib/botops"]
WORKDIR /srv/botops
USER 10001:10001
EXPOSE 8080

# botops is PID 1 (exec form) and handles SIGTERM itself: it stops claiming sends, lets the one
# in flight finish (daemon.shutdown_grace, 30 s by default) and exits 0. Give it longer than
# that before SIGKILL: `docker stop -t 45`, compose `stop_grace_period: 45s`, Kubernetes
# `terminationGracePeriodSeconds: 45`.
STOPSIGNAL SIGTERM
# Liveness: GET /healthz on server.port (no curl in the image; python's urllib instead).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOTOPS_SERVER__PORT', '8080'), timeout=4)"]
CMD ["botops", "run"]
