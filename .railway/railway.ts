// Railway Infrastructure as Code for this repository's one service: the live configuration since
// Railway stopped reading railway.json (2026-12-01). railway.json says the same (CI checks that
// the two agree: scripts/check-config.sh) for anything that still reads it.
//
//   railway config plan      preview (add --detailed-exit-code: exit 2 when changes are pending)
//   railway config apply     apply, after confirming the plan
//
// Before the first apply, set the names below to yours (`railway config pull --json` or
// `railway volume list` shows them): a volume name that is not the existing volume's plans a NEW
// volume and the old one's detachment, which is destructive. docs/operations.md section 4.6.
import { defineRailway, preserve, project, service, volume } from "railway/iac";

// Partial: this file manages only the resources it declares (this service and its volume), never
// the project's other services or databases. Without this export the file would describe the
// whole project, and `apply` would plan to delete everything it does not list.
export const partial = "ctv-bookedbiz-db";

export default defineRailway(() => {
  // No region and no sizeMB: the existing volume keeps its placement and size (changing the
  // region or shrinking is destructive). The database lives at /app/data/database/production.db.
  const data = volume("ctv-bookedbiz-db-volume");

  // No `source`: the service stays connected to the repository it is connected to in Railway.
  // No `replicas`: scaling is the runbook's `railway scale <region>=1` / `=0`, and an apply must
  // never start or stop the service on its own.
  const app = service("ctv-bookedbiz-db", {
    build: { builder: "DOCKERFILE", dockerfilePath: "Dockerfile" },
    // Exec form, no shell: the entrypoint expands $PORT itself (docs/configuration.md).
    start: "/usr/local/bin/entrypoint uvicorn src.web.asgi:app --host 0.0.0.0 --port $PORT",
    // Healthy only once the database is restored and readable; the restore gives up at 240 s.
    healthcheck: "/healthz",
    healthcheckTimeout: 300,
    deploy: {
      // A failed restore exits non-zero and is retried.
      restartPolicyType: "ON_FAILURE",
      restartPolicyMaxRetries: 5,
      // SIGTERM -> SIGKILL window. The stop backup (ENTRYPOINT_BACKUP_ON_STOP=1) runs in it:
      // uvicorn's graceful shutdown, then a snapshot and the upload of a changed database with a
      // retry or two. ENTRYPOINT_STOP_DEADLINE defaults from it (RAILWAY_DEPLOYMENT_DRAINING_SECONDS, below).
      drainingSeconds: 60,
      // Serverless off: a wake-up would re-run the restore, and the first request could get a 502.
      sleepApplication: false,
    },
    volumeMounts: { "/app/data": data },
    env: {
      // The secrets stay what is set in Railway: preserve() never writes a value. Delete the
      // DROPBOX_APP_SECRET line for a refresh token issued with PKCE (no app secret).
      DROPBOX_APP_KEY: preserve(),
      DROPBOX_APP_SECRET: preserve(),
      DROPBOX_REFRESH_TOKEN: preserve(),
      // Backups while the app runs (every 5 minutes, only when the database changed) and a last
      // one on stop: the writes made on Railway go back to Dropbox by themselves. Same values as
      // the Dockerfile's ENV. Cost: docs/operations.md section 4.5.
      ENTRYPOINT_BACKUP_INTERVAL: "5m",
      ENTRYPOINT_BACKUP_ON_STOP: "1",
      // The draining window as a variable, equal to deploy.drainingSeconds (CI checks it): the
      // entrypoint's stop deadline defaults from it, whether or not Railway injects it by itself.
      RAILWAY_DEPLOYMENT_DRAINING_SECONDS: "60",
    },
  });

  return project("ctv-bookedbiz", { resources: [app, data] });
});
