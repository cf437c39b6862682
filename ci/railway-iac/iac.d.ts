// Type declarations of the part of the `railway/iac` module that .railway/railway.ts uses, written
// for CI's `deno check` (scripts/check-config.sh). Transcribed from the SDK's published source,
// railwayapp/railway-ts-sdk (npm `railway`, MIT): src/iac/sdk.ts @14645ee, src/iac/schema.ts and
// src/iac/graph.ts @0786a5f. Same names, same field names, same types; only declarations, no code.
// Left out: what the file does not use (databases, buckets, groups, fn, template, ref, image, the
// compiler and the client). A field that the SDK does not have is therefore a type error here too.
// When the SDK gains a field that railway.ts needs, copy it from schema.ts / sdk.ts, not by guess.

// ---- schema.ts -------------------------------------------------------------------------------

export type ServiceConfig = {
  source?: ServiceSource | null;
  networking?: ServiceNetworking | null;
  variables?: VariableValues | null;
  build?: BuildConfig | null;
  deploy?: DeployConfig | null;
  configFile?: string | null;
  volumeMounts?: Record<string, VolumeMount | null> | null;
  isDeleted?: boolean | null;
  isCreated?: boolean | null;
  parentServiceId?: string | null;
  groupId?: string | null;
  clusterRole?: "root" | "replica" | "internal" | "edge" | null;
  replicaConfig?: {
    minReplicas?: number | null;
    maxReplicas?: number | null;
    step?: number | null;
    scalable?: boolean | null;
  } | null;
  clusterDisplay?: {
    badge?: string | null;
    badgeVariant?: "primary" | "secondary" | "muted" | null;
  } | null;
};

export type ServiceSource = {
  image?: string | null;
  repo?: string | null;
  branch?: string | null;
  commitSha?: string | null;
  upstreamUrl?: string | null;
  rootDirectory?: string | null;
  checkSuites?: boolean | null;
  autoUpdates?: {
    type?: "disabled" | "patch" | "minor" | null;
    schedule?: unknown;
    tagMode?: "semver" | "sha" | null;
  } | null;
};

export type ServiceNetworking = {
  serviceDomains?: Record<string, DomainConfig | null> | null;
  customDomains?: Record<string, DomainConfig | null> | null;
  tcpProxies?: Record<string, Record<string, never> | null> | null;
  privateNetworkEndpoint?: string | null;
};

export type DomainConfig = { port?: number | null };

export type VariableValues = Record<string, VariableConfig | null>;

export type VariableConfig = {
  description?: string | null;
  defaultValue?: string | null;
  isOptional?: boolean | null;
  isSealed?: boolean | null;
  value?: string | null;
  generator?: string | null;
  encryptedValue?: string | null;
  preserveExisting?: boolean | null;
};

export type BuildConfig = {
  builder?: "NIXPACKS" | "DOCKERFILE" | "RAILPACK" | "HEROKU" | "PAKETO" | null;
  watchPatterns?: string[] | null;
  buildCommand?: string | null;
  buildEnvironment?: "V2" | "V3" | null;
  dockerfilePath?: string | null;
  nixpacksConfigPath?: string | null;
  nixpacksPlan?: unknown;
  nixpacksVersion?: string | null;
  railpackVersion?: string | null;
};

export type DeployConfig = {
  startCommand?: string | null;
  preDeployCommand?: string[] | null;
  numReplicas?: number | null;
  healthcheckPath?: string | null;
  healthcheckTimeout?: number | null;
  sleepApplication?: boolean | null;
  runtime?: string | null;
  registryCredentials?: { username?: string; password?: string } | null;
  restartPolicyType?: "ON_FAILURE" | "ALWAYS" | "NEVER" | null;
  restartPolicyMaxRetries?: number | null;
  cronSchedule?: string | null;
  region?: string | null;
  multiRegionConfig?: Record<string, { numReplicas?: number | null; stackerAssignment?: string | null } | null> | null;
  limitOverride?: {
    containers?: { cpu?: number | null; memoryBytes?: number | null; diskBytes?: number | null } | null;
  } | null;
  requiredMountPath?: string | null;
  overlapSeconds?: number | null;
  drainingSeconds?: number | null;
  useLegacyStacker?: boolean | null;
  ipv6EgressEnabled?: boolean | null;
};

export type VolumeMount = {
  mountPath?: string | null;
  backupSchedules?: Array<"DAILY" | "WEEKLY" | "MONTHLY"> | null;
};

export type VolumeConfig = {
  sizeMB?: number | null;
  region?: string | null;
  alerts?: { usage?: Record<string, Record<string, never> | null> | null } | null;
  isDeleted?: boolean | null;
  isCreated?: boolean | null;
  allowOnlineResize?: boolean | null;
  forkFromBaseEnvironment?: boolean | null;
};

// ---- graph.ts --------------------------------------------------------------------------------

export type ResourceType = "service" | "database" | "volume" | "bucket" | "group";
export type ResourceAddress = `${ResourceType}.${string}`;

export interface GraphResourceBase {
  address: ResourceAddress;
  type: ResourceType;
  name: string;
  groupId?: string;
}

// The SDK's ResourceNode also has DatabaseNode, BucketNode and GroupNode; this file uses none.
export type ResourceNode = ServiceNode | VolumeNode;

export type ServiceKind = "empty" | "github" | "docker-image" | "database" | "function" | "template";

export interface SourceConfig extends ServiceSource {
  type: "github" | "image" | "empty" | "template";
  repo?: string | null;
  image?: string | null;
  template?: string | null;
}

export interface ServiceNode extends GraphResourceBase {
  address: `service.${string}`;
  type: "service";
  kind: ServiceKind;
  source?: SourceConfig;
  build?: BuildConfig;
  deploy?: DeployConfig;
  networking?: ServiceNetworking;
  variables?: Record<string, VariableValue>;
  volumeMounts?: Record<string, VolumeMount | null>;
  configFile?: string;
  parentServiceId?: string;
  groupId?: string;
  clusterRole?: ServiceConfig["clusterRole"];
  replicaConfig?: ServiceConfig["replicaConfig"];
  clusterDisplay?: ServiceConfig["clusterDisplay"];
}

export interface VolumeNode extends GraphResourceBase {
  address: `volume.${string}`;
  type: "volume";
  config?: VolumeConfig;
}

export type VariableValue =
  | ({ type: "literal" } & VariableConfig)
  | { type: "reference"; resource: ResourceAddress; output: string }
  | { type: "preserve" }
  | { type: "raw"; value: VariableConfig };

export type ProjectResourceInput = ResourceNode | ResourceNode[];

export interface ProjectDefinition {
  name: string;
  environments?: string[];
  resources?: ProjectResourceInput[];
  /** @deprecated Use resources instead. */
  services?: ProjectResourceInput[];
}

// ---- sdk.ts ----------------------------------------------------------------------------------

export interface RailwayContextInput {
  command?: string;
  projectId?: string;
  projectName?: string;
  environmentId?: string;
  environment?: string;
  environmentName?: string;
}

export interface RailwayContext extends RailwayContextInput {
  randomString: (label?: string, bytes?: number) => string;
  isEnvironment: (name: string) => boolean;
  shared: SharedVariableRef;
}

export type RailwayProgram = (
  ctx: RailwayContext,
  project: (name: string, definition: Omit<ProjectDefinition, "name">) => ProjectDefinition,
) => ProjectDefinition | Promise<ProjectDefinition>;

export declare function defineRailway(program: RailwayProgram): RailwayProgram;

export declare function project(name: string, definition: Omit<ProjectDefinition, "name">): ProjectDefinition;

export type RegionConfig = number | { count?: number; replicas?: number; stacker?: string | null };

export interface IntentServiceConfig {
  source?: SourceConfig | Omit<SourceConfig, "type">;
  root?: string;
  rootDirectory?: string;
  build?: string | BuildConfig;
  deploy?: DeployConfig;
  run?: { command?: string; preDeploy?: string | string[]; healthcheck?: string; healthcheckTimeout?: number };
  start?: string;
  startCommand?: string;
  preDeploy?: string | string[];
  preDeployCommand?: string | string[];
  healthcheck?: string;
  healthcheckPath?: string;
  healthcheckTimeout?: number;
  replicas?: number | Record<string, RegionConfig>;
  regions?: Record<string, RegionConfig>;
  networking?: ServiceNetworking;
  domains?: Array<string | { domain: string; port?: number }>;
  tcp?: Array<string | number>;
  tcpProxies?: string[];
  env?: Record<string, string | VariableConfig | VariableValue>;
  variables?: Record<string, string | VariableConfig | VariableValue>;
  volumeMounts?: Record<string, VolumeMount | null | VolumeNode>;
  configFile?: string;
  parentServiceId?: string;
  groupId?: string;
  clusterRole?: ServiceConfig["clusterRole"];
  replicaConfig?: ServiceConfig["replicaConfig"];
  clusterDisplay?: ServiceConfig["clusterDisplay"];
}

export type ServiceConfigInput = IntentServiceConfig;

export type RailwayProvidedVariable =
  | "RAILWAY_PUBLIC_DOMAIN"
  | "RAILWAY_PRIVATE_DOMAIN"
  | "RAILWAY_TCP_PROXY_DOMAIN"
  | "RAILWAY_TCP_PROXY_PORT"
  | "RAILWAY_DEPLOYMENT_ID"
  | "RAILWAY_DEPLOYMENT_DRAINING_SECONDS"
  | "RAILWAY_ENVIRONMENT"
  | "RAILWAY_ENVIRONMENT_ID"
  | "RAILWAY_PROJECT_ID"
  | "RAILWAY_PROJECT_NAME"
  | "RAILWAY_SERVICE_ID"
  | "RAILWAY_SERVICE_NAME"
  | "RAILWAY_REPLICA_ID"
  | "PORT";

export type ServiceVariableRef<K extends string = RailwayProvidedVariable | string> = { readonly [P in K]: VariableValue };
// deno-lint-ignore no-explicit-any
export type SharedVariableRef = { readonly [name: string]: VariableValue } & { readonly [name: string]: any };
export type ReferencableServiceNode<K extends string = RailwayProvidedVariable | string> = ServiceNode & { readonly env: ServiceVariableRef<K> };

export declare function github(repo: string, options?: Omit<SourceConfig, "type" | "repo" | "image">): SourceConfig;

// deno-lint-ignore ban-types
export declare function service<const Env extends Record<string, string | VariableConfig | VariableValue> = {}>(
  name: string,
  config?: Omit<ServiceConfigInput, "env" | "variables"> & { env?: Env; variables?: Env },
): ReferencableServiceNode<RailwayProvidedVariable | Extract<keyof Env, string>>;

export declare function volume(name: string, config?: VolumeConfig): VolumeNode;

export declare function preserve(): VariableValue;
