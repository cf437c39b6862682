// @ts-self-types="./iac.d.ts"
// A tiny stand-in for the `railway/iac` module, for CI only: scripts/check-config.sh evaluates
// .railway/railway.ts against it (ci/railway-iac/evaluate.ts) to compare the file with railway.json.
// It builds the same service settings that the SDK's service() documents (start -> startCommand,
// healthcheck -> healthcheckPath, build/deploy objects as given, env strings -> literal values,
// volumeMounts -> attachments), and refuses every option it does not model, so the comparison can
// never silently skip a setting. Types: iac.d.ts (transcribed from railwayapp/railway-ts-sdk).

const MODELLED = new Set([
  "source", "build", "deploy", "start", "startCommand", "healthcheck", "healthcheckPath",
  "healthcheckTimeout", "replicas", "env", "variables", "volumeMounts",
]);

export function defineRailway(program) {
  return program;
}

export function project(name, definition) {
  const resources = (definition.resources ?? definition.services ?? []).flat();
  return { name, ...definition, resources };
}

export function github(repo, options = {}) {
  return { type: "github", repo, branch: options.branch ?? "main", ...options };
}

export function preserve() {
  return { type: "preserve" };
}

export function volume(name, config = {}) {
  return { address: `volume.${name}`, type: "volume", name, config };
}

function defined(object) {
  const entries = Object.entries(object).filter(([, value]) => value !== undefined && value !== null);
  return entries.length ? Object.fromEntries(entries) : undefined;
}

export function service(name, config = {}) {
  for (const key of Object.keys(config)) {
    if (!MODELLED.has(key)) {
      throw new Error(`ci/railway-iac/iac.js does not model service option "${key}"; extend it before using it`);
    }
  }
  if (typeof config.build === "string") {
    throw new Error('ci/railway-iac/iac.js: build as a string is a build command; use build: { builder: "DOCKERFILE", ... }');
  }
  const deploy = { ...(config.deploy ?? {}) };
  const start = config.start ?? config.startCommand;
  if (start !== undefined) deploy.startCommand = start;
  const health = config.healthcheck ?? config.healthcheckPath;
  if (health !== undefined) deploy.healthcheckPath = health;
  if (config.healthcheckTimeout !== undefined) deploy.healthcheckTimeout = config.healthcheckTimeout;
  if (typeof config.replicas === "number") deploy.numReplicas = config.replicas;
  else if (config.replicas) {
    deploy.multiRegionConfig = Object.fromEntries(Object.entries(config.replicas).map(([region, value]) => [
      region,
      { numReplicas: typeof value === "number" ? value : value.count ?? value.replicas },
    ]));
  }
  const variables = {};
  for (const [key, value] of Object.entries({ ...(config.variables ?? {}), ...(config.env ?? {}) })) {
    if (typeof value === "string") variables[key] = { type: "literal", value };
    else if ("type" in value) variables[key] = value;
    else variables[key] = { type: "raw", value };
  }
  const volumeAttachments = {};
  for (const [mountPath, value] of Object.entries(config.volumeMounts ?? {})) {
    if (!value || value.type !== "volume") {
      throw new Error(`ci/railway-iac/iac.js models only volume(...) values in volumeMounts (at ${mountPath})`);
    }
    volumeAttachments[value.name] = { volume: value.address, mountPath };
  }
  return defined({
    address: `service.${name}`,
    type: "service",
    kind: config.source?.type === "github" ? "github" : config.source?.type === "image" ? "docker-image" : "empty",
    name,
    source: config.source,
    build: defined({ ...(config.build ?? {}) }),
    deploy: defined(deploy),
    variables: defined(variables),
    volumeAttachments: defined(volumeAttachments),
  });
}
