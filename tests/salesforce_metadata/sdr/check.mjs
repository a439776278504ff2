// Convert deploy/salesforce (SFDX source format) to Metadata API format with Salesforce's own
// library (@salesforce/source-deploy-retrieve, what `sf project deploy` uses), offline.
// Exits non-zero on any parse or conversion error, or when a source file is not recognised.
// Usage: node check.mjs <path to deploy/salesforce>
// Prints one JSON line: {"components": {"<type>": [fullName, ...]}, "output": "<dir>"}, children
// (fields, list views, field translations) included.
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ComponentSet, MetadataConverter } from "@salesforce/source-deploy-retrieve";
import { XMLParser, XMLValidator } from "fast-xml-parser";

const project = resolve(process.argv[2] ?? "../../../deploy/salesforce");
const sfdx = JSON.parse(readFileSync(join(project, "sfdx-project.json"), "utf8"));
const sourceDir = join(project, sfdx.packageDirectories.find((d) => d.default).path);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const set = ComponentSet.fromSource(sourceDir);
set.sourceApiVersion = sfdx.sourceApiVersion;
const components = set.getSourceComponents().toArray();
const known = new Set();
for (const component of components) {
  for (const c of [component, ...component.getChildren()]) {
    if (c.xml) known.add(resolve(c.xml));
    if (c.content) known.add(resolve(c.content));
  }
}
const unknown = walk(sourceDir).filter((path) => !known.has(resolve(path)));
if (unknown.length) {
  console.error(`not recognised as metadata: ${unknown.join(", ")}`);
  process.exit(1);
}
// Every file is well-formed XML whose root element is its metadata type (SDR's own parser is
// lenient about mismatched tags, so validate first), then SDR parses it.
const errors = [];
const parser = new XMLParser({ ignoreAttributes: true });
for (const component of components) {
  for (const c of [component, ...component.getChildren()]) {
    if (!c.xml) continue;
    const text = readFileSync(c.xml, "utf8");
    const valid = XMLValidator.validate(text);
    if (valid !== true) {
      errors.push(`${c.xml}: line ${valid.err.line}: ${valid.err.msg}`);
      continue;
    }
    const root = Object.keys(parser.parse(text)).filter((k) => k !== "?xml");
    if (root.length !== 1 || root[0] !== c.type.name) {
      errors.push(`${c.xml}: root element ${root.join(",")} is not ${c.type.name}`);
    }
    c.parseXmlSync();
  }
}
if (errors.length) {
  console.error(errors.join("\n"));
  process.exit(1);
}
await set.getObject();
const output = mkdtempSync(join(tmpdir(), "sfsync-mdapi-"));
await new MetadataConverter().convert(set, "metadata", { type: "directory", outputDirectory: output });
const byType = {};
for (const component of components) {
  for (const c of [component, ...component.getChildren()]) (byType[c.type.name] ??= []).push(c.fullName);
}
for (const names of Object.values(byType)) names.sort();
console.log(JSON.stringify({ components: byType, output }));
