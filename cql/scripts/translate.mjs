// Translate CQL to ELM JSON with the pinned HL7 reference translator (@cqframework/cql).
//
// Usage:
//   node scripts/translate.mjs                      translate every cql/*.cql into cql/elm/<LibraryName>.json
//   node scripts/translate.mjs --check              translate into a temp dir and fail if cql/elm/ is stale
//   node scripts/translate.mjs --out DIR --lib DIR FILE.cql ...   translate the given files (includes resolved from --lib)
//
// Exit status is non-zero on any translation error (errors are printed with file:line:col).
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

globalThis.require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const cqlDir = path.resolve(here, "..");
const { NamespaceManager, SystemModelInfoProvider } = await import("@cqframework/cql/cql");
const {
  DefaultModelInfoProvider, DefaultLibrarySourceProvider, stringAsPath, ModelManager,
  LibraryManager, CqlTranslator, createUcumService, CqlCompilerOptions,
} = await import("@cqframework/cql/cql-to-elm");

// Result types on every node let the Python engine resolve FHIR element types at compile time.
const OPTION_NAMES = ["EnableAnnotations", "EnableLocators", "EnableResultTypes", "DisableListDemotion", "DisableListPromotion"];

function parseArgs(argv) {
  const opts = { check: false, out: null, lib: null, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") opts.check = true;
    else if (a === "--out") opts.out = argv[++i];
    else if (a === "--lib") opts.lib = argv[++i];
    else opts.files.push(a);
  }
  return opts;
}

export function makeLibraryManager(libDir) {
  const modelManager = new ModelManager(new NamespaceManager());
  modelManager.modelInfoLoader.registerModelInfoProvider(new SystemModelInfoProvider());
  const modelDir = path.join(cqlDir, "node_modules", "cql-exec-fhir", "lib", "modelInfos");
  modelManager.modelInfoLoader.registerModelInfoProvider(new DefaultModelInfoProvider(stringAsPath(modelDir)));
  const ucum = globalThis.require("@lhncbc/ucum-lhc");
  const uu = ucum.UcumLhcUtils.getInstance();
  const ucumService = createUcumService(
    (v, from, to) => {
      const r = uu.convertUnitTo(from, Number(v), to);
      if (r.status !== "succeeded") throw new Error(r.msg.join(";"));
      return String(r.toVal);
    },
    (unit) => {
      const r = uu.validateUnitString(unit);
      return r.status === "valid" ? null : (r.msg[0] ?? "invalid unit");
    },
    () => { throw new Error("unsupported"); },
    () => { throw new Error("unsupported"); },
  );
  const options = new CqlCompilerOptions().withOptions(OPTION_NAMES.map((n) => CqlCompilerOptions.Options[n]));
  const libraryManager = new LibraryManager(modelManager, options, undefined, ucumService);
  libraryManager.librarySourceLoader.registerProvider(new DefaultLibrarySourceProvider(stringAsPath(libDir)));
  return libraryManager;
}

function errorsOf(tr) {
  const errs = tr.errors ? (tr.errors.asJsReadonlyArrayView ? tr.errors.asJsReadonlyArrayView() : tr.errors) : [];
  return Array.from(errs).filter((e) => {
    const sev = e.severity ? String(e.severity.name ?? e.severity) : "Error";
    return sev.toLowerCase() === "error";
  });
}

function describe(e, file) {
  // The Kotlin/JS TrackBack exposes its fields only through toString() (property names are mangled).
  const m = e.locator ? /startLine=(\d+), startChar=(\d+)/.exec(String(e.locator)) : null;
  const where = m ? `${file}:${m[1]}:${m[2]}` : file;
  return `${where}: ${e.message ?? String(e)}`;
}

// Translate CQL text; returns { elm (parsed JSON) | null, errors: [{ line, col, message }] }.
export function translateText(text, libraryManager) {
  const tr = CqlTranslator.fromText(text, libraryManager);
  const errors = errorsOf(tr).map((e) => {
    const m = e.locator ? /startLine=(\d+), startChar=(\d+)/.exec(String(e.locator)) : null;
    return { line: m ? Number(m[1]) : null, col: m ? Number(m[2]) : null, message: e.message ?? String(e) };
  });
  return { elm: errors.length ? null : JSON.parse(tr.toJson()), errors };
}

export function translateFiles(files, outDir, libDir) {
  const libraryManager = makeLibraryManager(libDir);
  fs.mkdirSync(outDir, { recursive: true });
  let failures = 0;
  const written = [];
  for (const f of files) {
    const tr = CqlTranslator.fromText(fs.readFileSync(f, "utf8"), libraryManager);
    const errs = errorsOf(tr);
    if (errs.length) {
      failures++;
      for (const e of errs) console.error("ERROR", describe(e, f));
      continue;
    }
    const json = tr.toJson();
    const name = JSON.parse(json).library.identifier.id;
    const target = path.join(outDir, `${name}.json`);
    fs.writeFileSync(target, JSON.stringify(JSON.parse(json), null, 1) + "\n");
    written.push(target);
  }
  return { failures, written };
}

// Run as a script only (cql/scripts/oracle.mjs imports translateText and makeLibraryManager).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

function main() {
const opts = parseArgs(process.argv.slice(2));
if (opts.files.length) {
  const { failures } = translateFiles(opts.files, opts.out ?? path.join(cqlDir, "elm"), opts.lib ?? path.dirname(path.resolve(opts.files[0])));
  process.exit(failures ? 1 : 0);
}
const sources = fs.readdirSync(cqlDir).filter((f) => f.endsWith(".cql")).sort().map((f) => path.join(cqlDir, f));
if (opts.check) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "elm-check-"));
  const { failures } = translateFiles(sources, tmp, cqlDir);
  if (failures) process.exit(1);
  const committed = path.join(cqlDir, "elm");
  const fresh = fs.readdirSync(tmp).sort();
  const old = fs.existsSync(committed) ? fs.readdirSync(committed).filter((f) => f.endsWith(".json")).sort() : [];
  let stale = JSON.stringify(fresh) !== JSON.stringify(old);
  for (const f of fresh) {
    if (!old.includes(f) || fs.readFileSync(path.join(tmp, f), "utf8") !== fs.readFileSync(path.join(committed, f), "utf8")) {
      console.error(`STALE cql/elm/${f}: run 'make elm' and commit the result`);
      stale = true;
    }
  }
  for (const f of old) if (!fresh.includes(f)) { console.error(`STALE cql/elm/${f}: no CQL source translates to it`); stale = true; }
  console.log(stale ? "ELM is stale" : `ELM is up to date (${fresh.length} libraries)`);
  process.exit(stale ? 1 : 0);
}
const { failures, written } = translateFiles(sources, path.join(cqlDir, "elm"), cqlDir);
for (const w of written) console.log("wrote", path.relative(process.cwd(), w));
process.exit(failures ? 1 : 0);
}
