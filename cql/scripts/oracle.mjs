// Test-only helper: the HL7 reference translator and the reference engine (cql-execution +
// cql-exec-fhir) behind one long-lived process speaking JSON lines on stdin/stdout.
//
// Never a run-time dependency of the service. Used by the conformance runner
// (service/elm/conformance) and the differential tests (tests/oracle).
//
// Request:  {"id": 1, "op": "...", ...}       one JSON object per line
// Response: {"id": 1, "ok": true, "result": ...} or {"id": 1, "ok": false, "error": "..."}
//
// Ops
//   ping                                   -> {"versions": {...}}
//   translate  {units: [{key, cql}], libDir?}
//              -> [{key, elm | null, errors: [{line, col, message}]}]
//   conformance {elm, now, tests: [{key, e, o: [names], invalid}]}
//              -> [{key, status: pass|fail|error, message?, actual?, expected?}]
//              each definition evaluated on its own (Unfiltered context); compared with
//              cql-execution's own equals/equivalent
//   load       {key, libraries: [elm, ...], valueSets: {url: {version: [{code, system, version?}]}}}
//              -> {libraries: [names]}      prepares a Repository once for later `evaluate`
//   evaluate   {key, library, bundles: [Bundle], parameters: {name: canonical}, now, expressions?}
//              -> {patients: [{definition: canonical | {"@error": message}}] (bundle order),
//                  unfiltered: {definition: canonical}}
//              (each bundle is one patient's record, as in cql-exec-fhir)
//   bench      {key, library, bundle, parameters, now, iterations, warmup, expressions?}
//              -> {times_ms: [...], definitions}   (benchmarks/engine_bench.py)
//   exit
//
// Canonical values (same form as service/elm/canonical.py; see docs/toolchain.md).
import { createRequire } from "node:module";
import readline from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
globalThis.require = require;
const here = path.dirname(fileURLToPath(import.meta.url));
const cql = require("cql-execution");
const cqlfhir = require("cql-exec-fhir");
const { equals, equivalent } = require("cql-execution/lib/util/comparison");

let translator = null; // loaded lazily: the translator takes ~0.5 s to import
const managers = new Map();
async function libraryManager(libDir) {
  if (!translator) translator = await import(path.join(here, "translate.mjs"));
  const dir = libDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "cql-nolib-"));
  if (!managers.has(libDir ?? "")) managers.set(libDir ?? "", translator.makeLibraryManager(dir));
  return managers.get(libDir ?? "");
}

// ---------------------------------------------------------------- canonical form
const DECIMAL_PLACES = 8;
function canonicalNumber(n) {
  // CQL has no NaN: cql-execution yields it for arithmetic on uncertainties (Avg of
  // `days between` partial dates), where our engine answers null (unknown).
  if (typeof n === "number" && Number.isNaN(n)) return null;
  if (typeof n !== "number" || !Number.isFinite(n)) return n == null ? null : String(n);
  if (Number.isInteger(n)) return n;
  return Number(n.toFixed(DECIMAL_PLACES));
}

// CQL calendar units: plural and singular spellings are the same unit.
const CALENDAR_PLURALS = { years: "year", months: "month", weeks: "week", days: "day", hours: "hour", minutes: "minute", seconds: "second", milliseconds: "millisecond" };
function canonicalUnit(unit) {
  if (unit == null || unit === "") return "1";
  return CALENDAR_PLURALS[unit] ?? unit;
}

function isFhirObject(v) {
  return v != null && typeof v === "object" && Object.prototype.hasOwnProperty.call(v, "_json") && v._typeInfo !== undefined;
}

function inheritedElement(v, name) {
  for (let ti = v._typeInfo; ti != null; ) {
    const found = ti.elements?.find((e) => e.name === name);
    if (found) return found;
    ti = ti.baseTypeSpecifier ? v._modelInfo.findClass(ti.baseTypeSpecifier.fqn) : null;
  }
  return undefined;
}

export function canonical(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") return canonicalNumber(v);
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(canonical);
  if (isFhirObject(v)) {
    if (v._json == null) return null;
    // A FHIR primitive (date, code, AdministrativeGender...) is its JSON value, as in our engine.
    const valueElement = inheritedElement(v, "value");
    if (valueElement && valueElement.typeSpecifier?.namespace === "System" && typeof v._json === "object") {
      return canonical(v._json.value);
    }
    return v._json;
  }
  if (v.isUncertainty) {
    if (v.isPoint && v.isPoint()) return canonical(v.low);
    return { "@type": "Uncertainty", low: canonical(v.low), high: canonical(v.high) };
  }
  if (v.isDateTime) {
    if (v.isTime && v.isTime()) return { "@type": "Time", value: v.toString() };
    return { "@type": "DateTime", value: v.toString() };
  }
  if (v.isDate) return { "@type": "Date", value: v.toString() };
  if (v.isQuantity) return { "@type": "Quantity", value: canonicalNumber(v.value), unit: canonicalUnit(v.unit) };
  if (v.isRatio) return { "@type": "Ratio", numerator: canonical(v.numerator), denominator: canonical(v.denominator) };
  if (v.isInterval) {
    return { "@type": "Interval", low: canonical(v.low), high: canonical(v.high), lowClosed: !!v.lowClosed, highClosed: !!v.highClosed };
  }
  if (v.isCode) return { "@type": "Code", code: v.code ?? null, system: v.system ?? null, version: v.version ?? null, display: v.display ?? null };
  if (v.isConcept) return { "@type": "Concept", codes: (v.codes ?? []).map(canonical), display: v.display ?? null };
  if (v.isValueSet || v instanceof cql.ValueSet) return { "@type": "ValueSet", id: v.oid ?? v.id ?? null, version: v.version ?? null };
  if (typeof v === "object") {
    // cql-execution 3.3.2 builds a `System.Ratio { numerator: .., denominator: .. }` instance as
    // a plain object: it is the Ratio.
    const keys = Object.keys(v);
    if (keys.length === 2 && v.numerator?.isQuantity && v.denominator?.isQuantity) {
      return { "@type": "Ratio", numerator: canonical(v.numerator), denominator: canonical(v.denominator) };
    }
    const elements = {};
    for (const k of Object.keys(v).sort()) {
      const c = canonical(v[k]);
      if (c !== null) elements[k] = c;
    }
    return { "@type": "Tuple", elements };
  }
  return String(v);
}

// Inverse for parameters: canonical JSON -> cql-execution values.
function fromCanonical(c) {
  if (c === null || c === undefined) return null;
  if (Array.isArray(c)) return c.map(fromCanonical);
  if (typeof c !== "object") return c;
  switch (c["@type"]) {
    case "DateTime": return cql.DateTime.parse(c.value);
    case "Date": return cql.Date.parse(c.value);
    case "Time": return cql.DateTime.parse(`0000-01-01T${c.value}`);
    case "Quantity": return new cql.Quantity(c.value, c.unit);
    case "Ratio": return new cql.Ratio(fromCanonical(c.numerator), fromCanonical(c.denominator));
    case "Interval": return new cql.Interval(fromCanonical(c.low), fromCanonical(c.high), c.lowClosed, c.highClosed);
    case "Code": return new cql.Code(c.code, c.system, c.version ?? undefined, c.display ?? undefined);
    case "Concept": return new cql.Concept(c.codes.map(fromCanonical), c.display ?? undefined);
    case "Tuple": return Object.fromEntries(Object.entries(c.elements).map(([k, x]) => [k, fromCanonical(x)]));
    default: return c;
  }
}

// cql-execution hands Message() to a listener and never halts; CQL says a Message with
// severity 'Error' raises an error, so the oracle's listener throws (as a conforming host would).
class RaisingMessageListener {
  onMessage(source, code, severity, message) {
    if (String(severity).toLowerCase() === "error") {
      throw new Error(`${code ?? "Message"}: ${message ?? ""}`);
    }
  }
}

function executionDateTime(now) {
  return now ? cql.DateTime.parse(now) : cql.DateTime.fromJSDate(new Date());
}

function errorMessage(e) {
  return (e && (e.message ?? String(e))) || "error";
}

// ---------------------------------------------------------------- ops
async function opTranslate({ units, libDir }) {
  const lm = await libraryManager(libDir);
  return units.map(({ key, cql: text }) => {
    try {
      const { elm, errors } = translator.translateText(text, lm);
      return { key, elm, errors };
    } catch (e) {
      return { key, elm: null, errors: [{ line: null, col: null, message: `translator crashed: ${errorMessage(e)}` }] };
    }
  });
}

async function opConformance({ elm, tests, now }) {
  let library;
  try {
    library = new cql.Library(elm);
  } catch (e) {
    return tests.map((t) => ({ key: t.key, status: t.invalid ? "pass" : "error", message: `load: ${errorMessage(e)}` }));
  }
  const when = executionDateTime(now);
  const listener = new RaisingMessageListener();
  const run = async (name) => {
    const ctx = new cql.UnfilteredContext(library, new cql.Results(), new cql.CodeService({}), {}, when, listener);
    const expr = library.expressions[name];
    if (!expr) throw new Error(`no definition ${name}`);
    return await expr.execute(ctx);
  };
  const out = [];
  for (const t of tests) {
    let actual;
    try {
      actual = await run(t.e);
    } catch (e) {
      out.push({ key: t.key, status: t.invalid ? "pass" : "error", message: errorMessage(e) });
      continue;
    }
    if (t.invalid) {
      out.push({ key: t.key, status: "fail", message: "expected an error", actual: canonical(actual) });
      continue;
    }
    let expected;
    try {
      const values = [];
      for (const o of t.o) values.push(await run(o));
      expected = t.o.length === 0 ? null : t.o.length === 1 ? values[0] : values;
    } catch (e) {
      out.push({ key: t.key, status: "error", message: `output: ${errorMessage(e)}` });
      continue;
    }
    let same;
    try {
      same = (actual == null && expected == null) || equals(actual, expected) === true ||
        (equals(actual, expected) == null && equivalent(actual, expected) === true) ||
        // the suite writes an uncertain result as the closed Interval of its bounds
        (actual?.isUncertainty === true && expected?.isInterval === true && expected.lowClosed && expected.highClosed &&
          equals(actual.low, expected.low) === true && equals(actual.high, expected.high) === true);
    } catch (e) {
      same = false;
    }
    out.push({ key: t.key, status: same ? "pass" : "fail", actual: canonical(actual), expected: canonical(expected) });
  }
  return out;
}

let fhirModelSource = null; // PatientSource.FHIRv401() parses a 3 MB model info: create it once
const prepared = new Map();

function opLoad({ key, libraries, valueSets }) {
  const byName = {};
  for (const lib of libraries) byName[lib.library.identifier.id] = lib;
  prepared.set(key, { byName, compiled: new Map(), codeService: new cql.CodeService(valueSets ?? {}) });
  return { libraries: Object.keys(byName) };
}

async function opEvaluate({ key, library, bundles, parameters, now, expressions }) {
  const p = prepared.get(key);
  if (!p) throw new Error(`library set ${key} not loaded`);
  if (!p.compiled.has(library)) {
    const main = p.byName[library];
    if (!main) throw new Error(`library ${library} not in set ${key}`);
    p.compiled.set(library, new cql.Library(main, new cql.Repository(p.byName)));
  }
  const lib = p.compiled.get(library);
  if (!fhirModelSource) fhirModelSource = cqlfhir.PatientSource.FHIRv401();
  const source = fhirModelSource;
  source.reset?.();
  source.loadBundles(bundles);
  const params = Object.fromEntries(Object.entries(parameters ?? {}).map(([k, v]) => [k, fromCanonical(v)]));
  const when = executionDateTime(now);
  const names = expressions ?? Object.keys(lib.expressions).filter((n) => !lib.expressions[n].isFunctionDef);
  const listener = new RaisingMessageListener();
  const patients = [];
  const patientResults = new cql.Results();
  let patient = await source.currentPatient();
  while (patient) {
    const ctx = new cql.PatientContext(lib, patient, p.codeService, params, when, listener);
    const row = {};
    const results = {};
    for (const n of names) {
      const expr = lib.expressions[n];
      if (!expr || expr.context === "Unfiltered") continue;
      try {
        const v = await expr.execute(ctx);
        results[n] = v;
        row[n] = canonical(v);
      } catch (e) {
        row[n] = { "@error": errorMessage(e) };
      }
    }
    patientResults.recordPatientResults(ctx, results);
    patients.push(row);
    patient = await source.nextPatient();
  }
  const unfiltered = {};
  const uctx = new cql.UnfilteredContext(lib, patientResults, p.codeService, params, when, listener);
  for (const n of names) {
    const expr = lib.expressions[n];
    if (!expr || expr.context !== "Unfiltered") continue;
    try {
      unfiltered[n] = canonical(await expr.execute(uctx));
    } catch (e) {
      unfiltered[n] = { "@error": errorMessage(e) };
    }
  }
  return { patients, unfiltered };
}

// Time cql-execution on one patient: the library, code service and PatientSource are prepared
// once; each iteration loads the bundle and evaluates the definitions (all of them by default)
// in one PatientContext, as Executor.exec does.
async function opBench({ key, library, bundle, parameters, now, iterations, warmup, expressions }) {
  const p = prepared.get(key);
  if (!p) throw new Error(`library set ${key} not loaded`);
  if (!p.compiled.has(library)) p.compiled.set(library, new cql.Library(p.byName[library], new cql.Repository(p.byName)));
  const lib = p.compiled.get(library);
  const params = Object.fromEntries(Object.entries(parameters ?? {}).map(([k, v]) => [k, fromCanonical(v)]));
  const names = expressions ?? Object.keys(lib.expressions).filter((n) => lib.expressions[n].context !== "Unfiltered");
  if (!fhirModelSource) fhirModelSource = cqlfhir.PatientSource.FHIRv401();
  const source = fhirModelSource;
  const when = executionDateTime(now);
  const listener = new RaisingMessageListener();
  const times = [];
  for (let i = 0; i < (warmup ?? 0) + iterations; i++) {
    const t0 = process.hrtime.bigint();
    source.reset();
    source.loadBundles([bundle]);
    const patient = await source.currentPatient();
    const ctx = new cql.PatientContext(lib, patient, p.codeService, params, when, listener);
    for (const n of names) await lib.expressions[n].execute(ctx);
    const t1 = process.hrtime.bigint();
    if (i >= (warmup ?? 0)) times.push(Number(t1 - t0) / 1e6);
  }
  return { times_ms: times, definitions: names.length };
}

function versions() {
  const v = (name) => JSON.parse(fs.readFileSync(path.join(here, "..", "node_modules", name, "package.json"), "utf8")).version;
  return { "cql-execution": v("cql-execution"), "cql-exec-fhir": v("cql-exec-fhir"), "@cqframework/cql": v("@cqframework/cql") };
}

const OPS = {
  ping: async () => ({ versions: versions() }),
  translate: opTranslate,
  conformance: opConformance,
  load: async (r) => opLoad(r),
  evaluate: opEvaluate,
  bench: opBench,
};

// cql-execution and cql-exec-fhir may log to stdout: keep stdout for the protocol only.
const write = process.stdout.write.bind(process.stdout);
console.log = (...a) => process.stderr.write(a.join(" ") + "\n");
console.warn = console.info = console.debug = console.trace = console.log;

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    write(JSON.stringify({ id: null, ok: false, error: `bad request: ${errorMessage(e)}` }) + "\n");
    continue;
  }
  if (req.op === "exit") break;
  const fn = OPS[req.op];
  let resp;
  try {
    if (!fn) throw new Error(`unknown op ${req.op}`);
    resp = { id: req.id, ok: true, result: await fn(req) };
  } catch (e) {
    resp = { id: req.id, ok: false, error: errorMessage(e) };
  }
  write(JSON.stringify(resp) + "\n");
}
process.exit(0);
