# monitor: news monitoring and alerting daemon.
#
#   docker build -t monitor .
#   docker run -d --name monitor -v monitor-data:/data \
#       -e SLACK_WEBHOOK_URL=... monitor
#
# The default config (config.yaml, baked in at /etc/monitor/config.yaml) needs
# no secrets and prints hits to the log. To use your own, mount it over that
# path (-v ./config.yaml:/etc/monitor/config.yaml:ro) and pass the ${VARS} it
# references with -e or --env-file. To use PostgreSQL instead of SQLite, set
# MONITOR_DATABASE=postgresql+psycopg://user:pass@host:5432/monitor.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MONITOR_CONFIG=/etc/monitor/config.yaml \
    MONITOR_DATABASE=sqlite:////data/monitor.db

# Every dependency ships manylinux wheels (psycopg[binary], pyahocorasick),
# so no compiler is needed. The source is removed after install.
COPY . /tmp/src
RUN pip install --no-cache-dir /tmp/src \
    && install -D -m 0644 /tmp/src/config.yaml /etc/monitor/config.yaml \
    && rm -rf /tmp/src

# Unprivileged user; /data holds the SQLite database and must be writable by it.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --home-dir /data \
       --no-create-home --shell /usr/sbin/nologin monitor \
    && mkdir -p /data \
    && chown monitor:monitor /data
VOLUME ["/data"]
WORKDIR /data
USER monitor

# The daemon serves /healthz (web.enabled in the default config): 200 while
# the scheduler runs, the database answers and polling is on time; 503 with
# the reason otherwise. `monitor healthcheck` asks it on loopback. To publish
# the dashboard, set MONITOR_WEB_LISTEN=0.0.0.0:8080 and a token (web.token:
# ${MONITOR_WEB_TOKEN} in your config) and -p 8080:8080.
EXPOSE 8080
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD monitor healthcheck --quiet --timeout 10 || exit 1

# The daemon stops cleanly on SIGTERM (docker stop); give it time to finish
# the current cycle with `docker stop -t 30` if needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["monitor"]
CMD ["run"]
