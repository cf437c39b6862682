// Evaluates a .railway/railway.ts the way Railway's CLI does (the module's `partial` export, then
// its default export called with a context and project()), against the CI stand-in of `railway/iac`
// (ci/deno.json maps the import to ci/railway-iac/iac.js), and prints the result as JSON:
//   deno run --config ci/deno.json --allow-read ci/railway-iac/evaluate.ts .railway/railway.ts
// ci/check_railway_iac.py compares that with railway.json.
import { project, type ProjectDefinition, type RailwayContext, type RailwayProgram } from "railway/iac";

const file = Deno.args[0];
if (!file) {
  console.error("usage: evaluate.ts PATH/TO/railway.ts");
  Deno.exit(64);
}
const url = new URL(file, `file://${Deno.cwd()}/`);
const mod = await import(url.href) as Record<string, unknown>;

const context: RailwayContext = {
  command: "plan",
  environment: "production",
  environmentName: "production",
  randomString: (label = "random") => `random-${label}`,
  isEnvironment: (name: string) => name === "production",
  shared: new Proxy({}, { get: (_target, name) => ({ type: "sharedReference", name: String(name) }) }),
};
const exported = mod.default as RailwayProgram | ProjectDefinition;
const definition = typeof exported === "function" ? await exported(context, project) : exported;
console.log(JSON.stringify({ partial: mod.partial ?? null, project: definition }, null, 2));
