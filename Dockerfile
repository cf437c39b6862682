# syntax=docker/dockerfile:1
# entrypoint: restore the SQLite database from Dropbox, then exec the app.
#
# Stages:
#   build   the official Swift image runs scripts/build-static.sh (the same script CI and humans use)
#           and leaves the static binary at /entrypoint.
#   binary  FROM scratch, only /entrypoint: for `COPY --from=<this image> /entrypoint /usr/local/bin/entrypoint`
#           into any app image (python-slim, Alpine, distroless, scratch). Build it with `--target binary`.
#   app     (default) python:3.12-slim with uvicorn and the example ASGI app; the entrypoint is ENTRYPOINT,
#           the Railway start command is CMD. Local test of the whole flow:
#             docker run -e DROPBOX_APP_KEY=... -e DROPBOX_APP_SECRET=... -e DROPBOX_REFRESH_TOKEN=... \
#                        -e PORT=8000 -p 8000:8000 -v data:/app/data IMAGE
#
# CI builds this file unchanged with podman and `--build-context build=DIR`, where DIR holds a host-built
# dist/entrypoint: `COPY --from=build /entrypoint` then reads DIR/entrypoint (scripts/test-container.sh).

# A maintained tag of the 6.3 line (6.3.1 and later patch releases). To pin it for reproducible builds,
# append the digest: FROM swift:6.3-bookworm@sha256:<digest> (how to look it up: docs/operations.md 4.1).
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY . .
# ENTRYPOINT_DEMO=0: the script's last step (scripts/demo.sh, the whole flow against the fake Dropbox)
# is for a build machine, not for an image build.
RUN ENTRYPOINT_DEMO=0 ./scripts/build-static.sh && install -m 0755 dist/entrypoint /entrypoint

FROM scratch AS binary
COPY --from=build /entrypoint /entrypoint
ENTRYPOINT ["/entrypoint"]

FROM python:3.12-slim AS app
# The container starts as root on purpose: Railway mounts volumes owned by root, and the entrypoint must
# create and replace files under /app/data (a non-root image would need RAILWAY_RUN_UID=0 there anyway).
# The app does not run as root: ENTRYPOINT_APP_USER=app makes the entrypoint, after the restore, give the
# database's directory and files to the user `app` (created below) and run uvicorn as it; the entrypoint
# itself and its backup workers stay root and keep the Dropbox secrets, which the app's environment lacks
# (docs/operations.md, "7. Security note").
# There is no VOLUME instruction: Railway rejects it; the volume is attached at /app/data in the
# service settings (or `-v data:/app/data` locally).
WORKDIR /app
ENV PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    RAILWAY_DB_PATH=/app/data/database/production.db
# Backups while the app runs and a last one on stop (the entrypoint then supervises the app instead of
# exec'ing it): every 5 minutes, a database that changed since the last restore or upload is uploaded
# to Dropbox, and on SIGTERM the final state is. Cost and how to turn it off: docs/operations.md 4.5.
# .railway/railway.ts sets the same values (CI checks that they agree).
ENV ENTRYPOINT_BACKUP_INTERVAL=5m \
    ENTRYPOINT_BACKUP_ON_STOP=1
COPY example/requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt && mkdir -p /app/data \
    && groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
ENV ENTRYPOINT_APP_USER=app
COPY example/src /app/src
COPY --from=build /entrypoint /usr/local/bin/entrypoint
EXPOSE 8000
# Exec form: the entrypoint is PID 1. With the backups above it stays PID 1 and supervises uvicorn
# (forwards signals, reaps, exits with uvicorn's status); with both set to 0 it execve's the command and
# uvicorn becomes PID 1. "$PORT" is expanded by the entrypoint itself (no shell, here or on Railway).
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["uvicorn", "src.web.asgi:app", "--host", "0.0.0.0", "--port", "$PORT"]
