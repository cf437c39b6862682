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

FROM swift:6.3.1-bookworm AS build
WORKDIR /src
COPY . .
RUN ./scripts/build-static.sh && install -m 0755 dist/entrypoint /entrypoint

FROM scratch AS binary
COPY --from=build /entrypoint /entrypoint
ENTRYPOINT ["/entrypoint"]

FROM python:3.12-slim AS app
# Runs as root on purpose: Railway mounts volumes owned by root, and the entrypoint must create and
# replace files under /app/data (a non-root image would need RAILWAY_RUN_UID=0 there anyway).
# There is no VOLUME instruction: Railway rejects it; the volume is attached at /app/data in the
# service settings (or `-v data:/app/data` locally).
WORKDIR /app
ENV PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    RAILWAY_DB_PATH=/app/data/database/production.db
COPY example/requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt && mkdir -p /app/data
COPY example/src /app/src
COPY --from=build /entrypoint /usr/local/bin/entrypoint
EXPOSE 8000
# Exec form: the entrypoint is PID 1 until it execve's the command, so uvicorn becomes PID 1 and gets
# SIGTERM directly. "$PORT" is expanded by the entrypoint itself (no shell is involved, here or on Railway).
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["uvicorn", "src.web.asgi:app", "--host", "0.0.0.0", "--port", "$PORT"]
