/**
 * Parses the `WWW-Authenticate` header of a 401 response into its challenges (RFC 9110 §11.6.1),
 * e.g. `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`.
 *
 * The header comes from the network, so the parser accepts any string: it returns the
 * challenges, or throws an {@linkcode AuthError} that says where the syntax broke.
 *
 * @example
 * ```ts
 * import { parseChallenges } from "./challenge.ts";
 * const [bearer] = parseChallenges('Bearer realm="https://auth.example/token",service="reg"');
 * console.log(bearer.scheme, bearer.params.get("realm")); // "bearer" "https://auth.example/token"
 * ```
 * @module
 */
import { AuthError, cutText } from "../errors/mod.ts";

/**
 * One authentication challenge: a scheme and its parameters.
 *
 * @example
 * ```ts
 * import type { Challenge } from "./challenge.ts";
 * const basic: Challenge = { scheme: "basic", params: new Map([["realm", "registry"]]) };
 * ```
 */
export interface Challenge {
  /** The scheme in lowercase, since schemes are case-insensitive: `basic`, `bearer`. */
  scheme: string;
  /**
   * The parameters, names in lowercase, values unquoted. A `Map`, so that a parameter named
   * `__proto__` or `constructor` is just a parameter.
   */
  params: Map<string, string>;
}

// RFC 9110 `tchar`: the characters of a token (scheme and parameter names).
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
// Unquoted parameter values: registries write realms such as https://host/token without
// quotes, although ":" and "/" are not token characters. Anything but a delimiter is accepted.
const BARE_VALUE_CHAR = /[^\s,"]/;
const WHITESPACE = /[ \t]/;
// The header is quoted in error messages; a hostile one must not flood them.
const QUOTED_HEADER_MAX = 200;

/**
 * Parses a `WWW-Authenticate` header value into its challenges, in order. An empty or blank
 * value has none. Parameters of the `token68` form (`Negotiate abc==`) are not supported, as no
 * registry uses them.
 *
 * @throws {AuthError} when the value is not a valid list of challenges.
 * @example
 * ```ts
 * import { parseChallenges } from "./challenge.ts";
 * const challenges = parseChallenges('Basic realm="a, b", Bearer realm="https://t/token"');
 * console.log(challenges.map((c) => c.scheme)); // ["basic", "bearer"]
 * ```
 */
export function parseChallenges(header: string): Challenge[] {
  return new ChallengeParser(header).parse();
}

/** A cursor over the header; each method consumes one production of the grammar. */
class ChallengeParser {
  #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): Challenge[] {
    const challenges: Challenge[] = [];
    this.#skipListSeparators();
    while (!this.#atEnd()) {
      challenges.push(this.#challenge());
      this.#skipListSeparators();
    }
    return challenges;
  }

  /** `scheme [ 1*SP param *( "," param ) ]`; stops before a token that starts a new challenge. */
  #challenge(): Challenge {
    const scheme = this.#token("an auth scheme");
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: new Map() };
    while (true) {
      this.#skipListSeparators();
      if (this.#atEnd()) return challenge;
      const start = this.#pos;
      const name = this.#token("a parameter name").toLowerCase();
      this.#skipWhitespace();
      if (this.#peek() !== "=") {
        // A token without "=" is the next challenge's scheme.
        this.#pos = start;
        return challenge;
      }
      this.#pos++;
      this.#skipWhitespace();
      const value = this.#peek() === '"' ? this.#quotedString() : this.#bareValue();
      // RFC 9110 forbids repeated names; the first one wins so a later one cannot override it.
      if (!challenge.params.has(name)) challenge.params.set(name, value);
      this.#skipWhitespace();
      if (!this.#atEnd() && this.#peek() !== ",") this.#fail('expected "," after a parameter');
    }
  }

  #token(what: string): string {
    const start = this.#pos;
    while (!this.#atEnd() && TOKEN_CHAR.test(this.#peek())) this.#pos++;
    if (this.#pos === start) this.#fail(`expected ${what}`);
    return this.#text.slice(start, this.#pos);
  }

  #bareValue(): string {
    const start = this.#pos;
    while (!this.#atEnd() && BARE_VALUE_CHAR.test(this.#peek())) this.#pos++;
    return this.#text.slice(start, this.#pos);
  }

  /** `DQUOTE *( qdtext / "\" char ) DQUOTE`, returned without quotes and escapes. */
  #quotedString(): string {
    const open = this.#pos++;
    let value = "";
    while (!this.#atEnd()) {
      const char = this.#text[this.#pos++];
      if (char === '"') return value;
      if (char === "\\") {
        if (this.#atEnd()) break;
        value += this.#text[this.#pos++];
      } else {
        value += char;
      }
    }
    this.#pos = open;
    return this.#fail("unterminated quoted string");
  }

  #skipWhitespace(): void {
    while (!this.#atEnd() && WHITESPACE.test(this.#peek())) this.#pos++;
  }

  /** Skips whitespace and empty list elements (`a, , b` is a valid list). */
  #skipListSeparators(): void {
    while (!this.#atEnd() && (WHITESPACE.test(this.#peek()) || this.#peek() === ",")) this.#pos++;
  }

  #peek(): string {
    return this.#text[this.#pos];
  }

  #atEnd(): boolean {
    return this.#pos >= this.#text.length;
  }

  #fail(problem: string): never {
    const shown = cutText(this.#text, QUOTED_HEADER_MAX);
    throw new AuthError(
      `invalid WWW-Authenticate header ${JSON.stringify(shown)}: ${problem} at offset ${this.#pos}`,
    );
  }
}
