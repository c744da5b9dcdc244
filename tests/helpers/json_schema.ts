/**
 * A JSON Schema validator for the subset that `docs/schemas/` uses: `type`, `properties`,
 * `required`, `additionalProperties`, `items`, `enum`, `pattern`, `oneOf`, and `$ref` to
 * `#/$defs/NAME`. Any other keyword throws, so that a schema never passes by a keyword that
 * was silently ignored.
 *
 * @module
 */

/**
 * A JSON Schema object.
 *
 * @example
 * ```ts
 * import type { Schema } from "./json_schema.ts";
 * const digest: Schema = { type: "string", pattern: "^sha256:[a-f0-9]{64}$" };
 * ```
 */
export type Schema = { [keyword: string]: unknown };

/** Keywords that only annotate: they never fail a value. */
const ANNOTATIONS = new Set(["$schema", "$id", "$defs", "$comment", "title", "description"]);
const ASSERTIONS = new Set([
  "$ref",
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "pattern",
  "oneOf",
]);

/**
 * The ways `value` breaks `schema`, each as `POINTER: problem`; empty when it is valid.
 *
 * @throws {Error} for a keyword outside the subset, or a `$ref` that does not resolve.
 * @example
 * ```ts
 * import { validate } from "./json_schema.ts";
 * validate({ type: "object", required: ["a"] }, {}); // ["/: a is required"]
 * ```
 */
export function validate(schema: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(schema, value, "", schema, errors);
  return errors;
}

function check(schema: Schema, value: unknown, at: string, root: Schema, errors: string[]): void {
  const where = at || "/";
  for (const keyword of Object.keys(schema)) {
    if (!ANNOTATIONS.has(keyword) && !ASSERTIONS.has(keyword)) {
      throw new Error(`${where}: unsupported keyword ${keyword}`);
    }
  }
  if (typeof schema.$ref === "string") check(resolve(schema.$ref, root), value, at, root, errors);
  const types = schema.type === undefined ? undefined : [schema.type].flat() as string[];
  if (types && !types.some((type) => hasType(value, type))) {
    errors.push(`${where}: ${JSON.stringify(value)} is not of type ${types.join(" or ")}`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    errors.push(`${where}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof schema.pattern === "string" && typeof value === "string") {
    if (!new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${where}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
  }
  if (Array.isArray(schema.oneOf)) {
    const passed = schema.oneOf.filter((option: Schema) => {
      const found: string[] = [];
      check(option, value, at, root, found);
      return found.length === 0;
    }).length;
    if (passed !== 1) errors.push(`${where}: matches ${passed} of the oneOf schemas, not 1`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => check(schema.items as Schema, item, `${at}/${i}`, root, errors));
  }
  if (!hasType(value, "object")) return;
  const object = value as Record<string, unknown>;
  for (const name of (schema.required ?? []) as string[]) {
    if (!(name in object)) errors.push(`${where}: ${name} is required`);
  }
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, item] of Object.entries(object)) {
    const rule: unknown = properties[name] ?? schema.additionalProperties;
    if (rule === false) errors.push(`${where}: ${name} is not allowed`);
    else if (typeof rule === "object" && rule !== null) {
      check(rule as Schema, item, `${at}/${name}`, root, errors);
    }
  }
}

/** A `#/$defs/NAME` reference, the only kind the schemas use. */
function resolve(ref: string, root: Schema): Schema {
  const name = /^#\/\$defs\/([^/]+)$/.exec(ref)?.[1];
  const target = name === undefined ? undefined : (root.$defs as Record<string, Schema>)?.[name];
  if (target === undefined) throw new Error(`cannot resolve $ref ${ref}`);
  return target;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "integer":
      return Number.isInteger(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    default:
      throw new Error(`unsupported type ${type}`);
  }
}
